/** `logs`: prints, or follows, the output of one attempt of an experiment. */
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { queryBatchState } from '../batch-handle.js';
import { attemptLogFile, experimentLogDir } from '../paths.js';
import { experimentsMatching, isFinal } from '../shared/batch-state.js';
import type { BatchState } from '../shared/types.js';
import { EXIT, UsageError } from './errors.js';

export interface LogsOptions {
  attempt?: number;
  follow?: boolean;
  pollMs?: number;
}

const ATTEMPT_FILE = /^attempt-(\d+)\.log$/;

/** The first experiment `wanted` names (by name or id). */
export function findExperiment(state: BatchState, wanted: string): number {
  const [index] = experimentsMatching(state, wanted);
  if (index === undefined) throw new UsageError(`batch "${state.batchId}" has no experiment "${wanted}"`);
  return index;
}

async function attemptsOnDisk(dir: string): Promise<number[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  return files.flatMap((file) => {
    const match = ATTEMPT_FILE.exec(file);
    return match ? [Number(match[1])] : [];
  }).sort((a, b) => a - b);
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

export async function logs(handle: WorkflowHandle, workflowStatus: string, state: BatchState, experiment: string, options: LogsOptions): Promise<number> {
  const index = findExperiment(state, experiment);
  const { name } = state.experiments[index];
  const dir = experimentLogDir(state.settings.workDir, state.batchId, name);
  const onDisk = await attemptsOnDisk(dir);
  const attempt = options.attempt ?? onDisk.at(-1);
  const following = Boolean(options.follow) && workflowStatus === 'RUNNING';

  if (attempt === undefined && !following) {
    throw new UsageError(`${name} has no log yet in ${dir} (status: ${state.records[index].status})`);
  }
  if (attempt !== undefined && !onDisk.includes(attempt) && !following) {
    throw new UsageError(`${name} has no attempt ${attempt} in ${dir}; attempts with logs: ${onDisk.join(', ') || 'none'}`);
  }
  if (!following) {
    await copyFrom(attemptLogFile(state.settings.workDir, state.batchId, name, attempt!), 0);
    return EXIT.ok;
  }
  await follow(handle, state, index, dir, options, attempt);
  return EXIT.ok;
}

/** Prints an attempt's log as it grows; without --attempt, moves on to each next attempt; ends when the experiment does. */
async function follow(handle: WorkflowHandle, state: BatchState, index: number, dir: string, options: LogsOptions, first: number | undefined): Promise<void> {
  const { pollMs = 500 } = options;
  const { name } = state.experiments[index];
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
    ended = await experimentEnded(handle, index, options.attempt);
    if (!ended) await delay(pollMs, undefined, { signal: interrupted.signal }).catch(() => undefined);
  }
}

/** The experiment is final, or the pinned attempt is over; one more read then catches the log's end. */
async function experimentEnded(handle: WorkflowHandle, index: number, pinnedAttempt: number | undefined): Promise<boolean> {
  try {
    const record = (await queryBatchState(handle)).records[index];
    if (isFinal(record.status)) return true;
    return pinnedAttempt !== undefined && record.attempts >= pinnedAttempt;
  } catch {
    return false; // server or worker busy: keep following
  }
}
