/**
 * A batch's files in its work dir, which outlive its workflows (namespace retention):
 * `results/<id>/batch.json` (written at submit, reserving the id) and `results/<id>/summary.json`.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { batchRecordFile, batchResultsDir, batchSummaryFile } from '../paths.js';
import type { BatchSummary } from '../model/types.js';
import { BadInputError } from '../errors.js';
import type { z } from 'zod';
import type { BatchRecord } from './file-schemas.js';

export type { BatchRecord };

/**
 * Creates `results/<id>/` and its batch.json; refuses an id whose folder exists, so a reused id
 * never overwrites earlier results (also when that batch's workflows are gone). Returns an undo.
 */
export async function reserveBatchId(record: BatchRecord): Promise<() => Promise<void>> {
  const dir = batchResultsDir(record.workDir, record.batchId);
  await mkdir(path.dirname(dir), { recursive: true });
  try {
    await mkdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new BadInputError(`batch id "${record.batchId}" is already used: ${dir} exists; choose another --batch-id`);
  }
  await writeFile(batchRecordFile(record.workDir, record.batchId), `${JSON.stringify(record, null, 2)}\n`);
  return () => rm(dir, { recursive: true, force: true });
}

async function readJson<T>(
  file: string,
  schemaOf: (schemas: typeof import('./file-schemas.js')) => z.ZodType<T>,
): Promise<T | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const schema = schemaOf(await import('./file-schemas.js'));
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // half-written or edited by hand: as if absent
  }
}

/** The summary the worker wrote when the batch ended; undefined when there is none. */
export function readSummaryFile(workDir: string, batchId: string): Promise<BatchSummary | undefined> {
  return readJson(batchSummaryFile(workDir, batchId), (schemas) => schemas.summarySchema);
}

/** What `submit` recorded when it started the batch (batch.json); undefined when there is none. */
export function readBatchRecord(workDir: string, batchId: string): Promise<BatchRecord | undefined> {
  return readJson(batchRecordFile(workDir, batchId), (schemas) => schemas.recordSchema);
}

/** The summaries of the finished batches of this work dir whose experiments came from `experimentsDir`. */
export async function summariesOnDisk(workDir: string, experimentsDir: string): Promise<BatchSummary[]> {
  const summaries: BatchSummary[] = [];
  const batchIds = await readdir(path.join(workDir, 'results')).catch(() => [] as string[]);
  for (const batchId of batchIds) {
    const record = await readJson(batchRecordFile(workDir, batchId), (schemas) => schemas.recordSchema);
    if (record?.experimentsDir !== experimentsDir) continue;
    const summary = await readSummaryFile(workDir, batchId);
    if (summary) summaries.push(summary);
  }
  return summaries;
}

/** Names that completed in the finished batches of this work dir whose experiments came from `experimentsDir`. */
export async function completedOnDisk(workDir: string, experimentsDir: string): Promise<Set<string>> {
  const experiments = (await summariesOnDisk(workDir, experimentsDir)).flatMap((summary) => summary.experiments);
  return new Set(experiments.filter((e) => e.status === 'completed').map((e) => e.name));
}
