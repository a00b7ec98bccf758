/** `logs <batchId> <experiment>`: prints, or follows, the output of one attempt, from the log files of its work dir. */
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { queryBatchState, readBatch, withClient } from '../../batch-client/index.js';
import { BadInputError, EXIT } from '../../errors.js';
import { attemptLogFile, experimentLogDir } from '../../paths.js';
import { isFinal } from '../../model/batch-state.js';
import type { BatchState, BatchSummary, ExperimentRecord } from '../../model/types.js';
import type { OptionsOf } from '../command-table.js';
import { resolveExperiment, type NamedExperiment } from '../experiment-ref.js';
import { resolveWorkDir } from '../invocation.js';

const POLL_MS = 500;

export async function run([batchId, experiment]: string[], options: OptionsOf<'logs'>): Promise<number> {
  const workDir = resolveWorkDir(options.workDir);
  return withClient(async (client) => {
    const reading = await readBatch(client, batchId, workDir);
    const source =
      reading.kind === 'files'
        ? fileLogSource(reading.summary, workDir)
        : liveLogSource(reading.handle, reading.state, reading.status);
    return logs(source, experiment, options);
  });
}

/** What `logs` needs of a batch: a live one's state, or a finished one's summary file. */
interface LogSource {
  batchId: string;
  workDir: string;
  experiments: readonly NamedExperiment[];
  statusOf(index: number): string;
  /** Whether the batch may still write to its logs (`--follow` then waits for more). */
  running: boolean;
  /** The experiment is final, or the pinned attempt is over; undefined when it cannot be told right now. */
  ended(index: number, pinnedAttempt: number | undefined): Promise<boolean | undefined>;
}

const ATTEMPT_FILE = /^attempt-(\d+)\.log$/;

async function attemptsOnDisk(dir: string): Promise<number[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  return files
    .flatMap((file) => {
      const match = ATTEMPT_FILE.exec(file);
      return match ? [Number(match[1])] : [];
    })
    .sort((a, b) => a - b);
}

/** Copies a file to stdout from `offset`; returns the new offset. */
async function copyFrom(file: string, offset: number): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (!bytesRead) return offset;
      await new Promise<void>((resolve) => process.stdout.write(buffer.subarray(0, bytesRead), () => resolve()));
      offset += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

async function logs(source: LogSource, experiment: string, options: OptionsOf<'logs'>): Promise<number> {
  const index = resolveExperiment(source.experiments, experiment, source.batchId);
  const { name } = source.experiments[index];
  const dir = experimentLogDir(source.workDir, source.batchId, name);
  const onDisk = await attemptsOnDisk(dir);
  const attempt = options.attempt ?? onDisk.at(-1);
  const following = Boolean(options.follow) && source.running;

  if (attempt === undefined && !following) {
    throw new BadInputError(`${name} has no log yet in ${dir} (status: ${source.statusOf(index)})`);
  }
  if (attempt !== undefined && !onDisk.includes(attempt) && !following) {
    throw new BadInputError(
      `${name} has no attempt ${attempt} in ${dir}; attempts with logs: ${onDisk.join(', ') || 'none'}`,
    );
  }
  if (!following) {
    await copyFrom(attemptLogFile(source.workDir, source.batchId, name, attempt!), 0);
    return EXIT.ok;
  }
  await follow(source, index, dir, options, attempt);
  return EXIT.ok;
}

/** Prints an attempt's log as it grows; without --attempt, moves on to the next attempts; ends with the experiment. */
async function follow(
  source: LogSource,
  index: number,
  dir: string,
  options: OptionsOf<'logs'>,
  first: number | undefined,
): Promise<void> {
  const { name } = source.experiments[index];
  let attempt = first;
  let offset = 0;
  let ended = false;
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  while (!interrupted.signal.aborted) {
    const onDisk = await attemptsOnDisk(dir);
    if (attempt === undefined) attempt = onDisk[0];
    if (attempt !== undefined && onDisk.includes(attempt)) {
      offset = await copyFrom(path.join(dir, `attempt-${attempt}.log`), offset);
      const next = onDisk.find((candidate) => candidate > attempt!);
      if (options.attempt === undefined && next !== undefined) {
        process.stdout.write(`\n[staged] ${name} attempt ${next}:\n`);
        attempt = next;
        offset = 0;
        continue;
      }
    }
    if (ended) return;
    ended = (await source.ended(index, options.attempt)) ?? false; // unknown (server busy): keep following
    if (!ended) await delay(POLL_MS, undefined, { signal: interrupted.signal }).catch(() => undefined);
  }
}

function liveLogSource(handle: WorkflowHandle, state: BatchState, status: string): LogSource {
  return {
    batchId: state.batchId,
    workDir: state.settings.workDir,
    experiments: state.experiments,
    statusOf: (index) => state.records[index].status,
    running: status === 'RUNNING',
    async ended(index, pinnedAttempt) {
      try {
        const record = (await queryBatchState(handle)).records[index];
        return isFinal(record.status) || (pinnedAttempt !== undefined && attemptOver(record, pinnedAttempt));
      } catch {
        return undefined;
      }
    },
  };
}

function fileLogSource(summary: BatchSummary, workDir: string): LogSource {
  return {
    batchId: summary.batchId,
    workDir,
    experiments: summary.experiments,
    statusOf: (index) => summary.experiments[index].status,
    running: false,
    ended: () => Promise.resolve(true),
  };
}

/** `attempts` counts the run in progress: attempt N is over once a later one started, or N is no longer running. */
function attemptOver(record: ExperimentRecord, attempt: number): boolean {
  return record.attempts > attempt || (record.attempts === attempt && record.status !== 'running');
}
