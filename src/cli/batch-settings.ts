/** A batch's settings from `submit`'s validated options, and its id when none is given. */
import path from 'node:path';
import type { BatchSettings } from '../model/types.js';
import type { OptionsOf } from './command-table.js';
import { checkpointSettings } from './checkpoint-settings.js';

/** History length at which a batch continues as new: well under Temporal's 10,240-event warning. */
export const DEFAULT_HISTORY_LIMIT = 4_000;

export function toBatchSettings(
  options: OptionsOf<'submit'>,
  workDir: string,
  searchAttributes: boolean,
): BatchSettings {
  return {
    maxConcurrent: options.maxConcurrent,
    maxRetries: options.maxRetries,
    retryDelayMs: options.retryDelay,
    timeoutMs: options.timeout ?? null,
    retryTimeouts: options.retryTimeouts,
    heartbeatTimeoutMs: options.heartbeatTimeout,
    killGraceMs: options.killGrace,
    experimentsDir: path.resolve(workDir, options.dir),
    workDir,
    taskQueue: options.taskQueue,
    historyLimit: options.historyLimit ?? DEFAULT_HISTORY_LIMIT,
    searchAttributes,
    ...checkpointSettings(options),
  };
}

export function newBatchId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `batch-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}
