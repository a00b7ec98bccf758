/** `logs`: prints, or follows, the output of one attempt of an experiment, from the log files of its work dir. */
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { attemptLogFile, experimentLogDir } from '../paths.js';
import { EXIT, UsageError } from './errors.js';
import { resolveExperiment, type NamedExperiment } from './experiment-ref.js';

export interface LogsOptions {
  attempt?: number;
  follow?: boolean;
  pollMs?: number;
}

/** What `logs` needs of a batch: a live one's state, or a finished one's summary file. */
export interface LogSource {
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

export async function logs(source: LogSource, experiment: string, options: LogsOptions): Promise<number> {
  const index = resolveExperiment(source.experiments, experiment, source.batchId);
  const { name } = source.experiments[index];
  const dir = experimentLogDir(source.workDir, source.batchId, name);
  const onDisk = await attemptsOnDisk(dir);
  const attempt = options.attempt ?? onDisk.at(-1);
  const following = Boolean(options.follow) && source.running;

  if (attempt === undefined && !following) {
    throw new UsageError(`${name} has no log yet in ${dir} (status: ${source.statusOf(index)})`);
  }
  if (attempt !== undefined && !onDisk.includes(attempt) && !following) {
    throw new UsageError(`${name} has no attempt ${attempt} in ${dir}; attempts with logs: ${onDisk.join(', ') || 'none'}`);
  }
  if (!following) {
    await copyFrom(attemptLogFile(source.workDir, source.batchId, name, attempt!), 0);
    return EXIT.ok;
  }
  await follow(source, index, dir, options, attempt);
  return EXIT.ok;
}

/** Prints an attempt's log as it grows; without --attempt, moves on to each next attempt; ends when the experiment does. */
async function follow(source: LogSource, index: number, dir: string, options: LogsOptions, first: number | undefined): Promise<void> {
  const { pollMs = 500 } = options;
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
    if (!ended) await delay(pollMs, undefined, { signal: interrupted.signal }).catch(() => undefined);
  }
}
