/** Validates `submit`'s options into batch settings; every message names the flag and the value. */
import path from 'node:path';
import { z } from 'zod';
import { taskQueueName } from '../connection.js';
import type { BatchSettings } from '../shared/types.js';
import { parseDuration } from '../shared/duration.js';
import { UsageError } from './errors.js';
import { SUBMIT_DEFAULTS } from './submit-defaults.js';

export { SUBMIT_DEFAULTS };

/** Temporal and the file system both accept these; the batch id names log and results folders. */
const BATCH_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

const integer = (flag: string, min: number) =>
  z.string().transform((text, ctx) => {
    const value = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
      ctx.addIssue({ code: 'custom', message: `${flag} must be an integer ≥ ${min} (got "${text}")` });
      return z.NEVER;
    }
    return value;
  });

const duration = (flag: string) =>
  z.string().transform((text, ctx) => {
    try {
      return parseDuration(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${flag}: ${(err as Error).message}` });
      return z.NEVER;
    }
  });

/** Heartbeats are sent at most once a second; a timeout must leave room for at least two. */
export const MIN_HEARTBEAT_TIMEOUT_MS = 2_000;

const submitSchema = z
  .object({
  dir: z.string(),
  maxConcurrent: integer('--max-concurrent', 1),
  maxRetries: integer('--max-retries', 0),
  retryDelay: duration('--retry-delay'),
  timeout: duration('--timeout').optional(),
  retryTimeouts: z.boolean().optional(),
  heartbeatTimeout: duration('--heartbeat-timeout'),
  killGrace: duration('--kill-grace'),
  statusInterval: duration('--status-interval'),
  batchId: z
    .string()
    .regex(BATCH_ID, '--batch-id may use letters, digits, ".", "_" and "-" (ASCII only, at most 100, starting with a letter or digit)')
    .optional(),
  priority: z.string().optional(),
  experiments: z.string().optional(),
  historyLimit: integer('--history-limit', 100).optional(),
  workDir: z.string().optional(),
  })
  .superRefine((options, ctx) => {
    if (options.heartbeatTimeout < MIN_HEARTBEAT_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        message: `--heartbeat-timeout must be at least 2s: twice the 1-s minimum heartbeat interval, or a healthy run is declared lost`,
      });
    }
    if (options.killGrace >= options.heartbeatTimeout) {
      ctx.addIssue({
        code: 'custom',
        message:
          '--kill-grace must be shorter than --heartbeat-timeout: a stopped run must be dead before its worker is declared lost, ' +
          'or a second copy may start while the first still runs',
      });
    }
  });

export type RawSubmitOptions = z.input<typeof submitSchema>;
export type SubmitOptions = z.output<typeof submitSchema>;

export function parseSubmitOptions(raw: RawSubmitOptions): SubmitOptions {
  const parsed = submitSchema.safeParse(raw);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((issue) => issue.message).join('\n'));
  return parsed.data;
}

/** History length at which a batch continues as new: well under Temporal's 10,240-event warning. */
export const DEFAULT_HISTORY_LIMIT = 4_000;

export function toBatchSettings(options: SubmitOptions, workDir: string, searchAttributes: boolean): BatchSettings {
  return {
    maxConcurrent: options.maxConcurrent,
    maxRetries: options.maxRetries,
    retryDelayMs: options.retryDelay,
    timeoutMs: options.timeout ?? null,
    retryTimeouts: options.retryTimeouts ?? false,
    heartbeatTimeoutMs: options.heartbeatTimeout,
    killGraceMs: options.killGrace,
    experimentsDir: path.resolve(workDir, options.dir),
    workDir,
    taskQueue: taskQueueName(),
    historyLimit: options.historyLimit ?? DEFAULT_HISTORY_LIMIT,
    searchAttributes,
  };
}

export function newBatchId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `batch-${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}
