/**
 * The contract shared by the CLI, the workflows and the activities.
 * Workflow code imports this file, so it must stay free of Node APIs and I/O.
 */

import type { Progress } from './progress.js';

export const PRIORITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Temporal's priorityKey: lower is served first. */
export const PRIORITY_KEY: Record<Priority, number> = { critical: 1, high: 2, medium: 3, low: 4 };

/** One experiment script as the batch sees it; kept small because a batch holds thousands. */
export interface ExperimentSpec {
  /** Part of the file name before the first `_`, e.g. `exp125`. */
  id: string;
  /** File name without extension, e.g. `exp125_adaptive_stop_loss`; unique within a batch. */
  name: string;
  /** File name inside the batch's experiments directory. */
  file: string;
  priority: Priority;
}

/** Settings chosen at submit time; every experiment of the batch shares them. */
export interface BatchSettings {
  maxConcurrent: number;
  maxRetries: number;
  retryDelayMs: number;
  /** Bounds one attempt (one run of the process); null: no limit (the default). */
  timeoutMs: number | null;
  /** Whether an attempt that hit `timeoutMs` is retried (default false: it would most likely hit it again). */
  retryTimeouts: boolean;
  heartbeatTimeoutMs: number;
  /** Time between SIGTERM and SIGKILL when a process tree is stopped. */
  killGraceMs: number;
  /** Absolute directory holding the experiment scripts. */
  experimentsDir: string;
  /** Absolute directory the processes run in (where `submit` ran). */
  workDir: string;
  taskQueue: string;
  /** Batch-workflow history length at which it continues as new. */
  historyLimit: number;
  /** Whether the namespace has staged's search attributes registered. */
  searchAttributes: boolean;
}

/** `queued`: not started, or started and waiting for a worker slot; `running`: its process runs. */
export type ExperimentStatus = 'queued' | 'running' | 'retrying' | 'completed' | 'failed' | 'cancelled';

/** Why an attempt ended other than by exiting 0. */
export const END_REASONS = ['exit-code', 'signal', 'timeout', 'cancelled', 'worker-lost'] as const;
export type EndReason = (typeof END_REASONS)[number];
export const FINAL_STATUSES: readonly ExperimentStatus[] = ['completed', 'failed', 'cancelled'];

/** What is known about one experiment of a batch; times are epoch milliseconds. */
export interface ExperimentRecord {
  status: ExperimentStatus;
  /** Runs of the process so far, the current one and runs lost with a worker included; ≥ 1 once running. */
  attempts: number;
  exitCode: number | null;
  /** Why the last attempt ended, when it did not exit 0. */
  reason?: EndReason;
  startedAt?: number;
  closedAt?: number;
  /** When a retry is scheduled to start (status `retrying`). */
  retryAt?: number;
  /** Why the last attempt failed, with the tail of its output. */
  error?: string;
}

/** The whole state of a batch: the workflow's input, its query result and the CLI's view. */
export interface BatchState {
  batchId: string;
  createdAt: number;
  settings: BatchSettings;
  /** Sorted in start order (priority, then experiment number, then name). */
  experiments: ExperimentSpec[];
  /** Parallel to `experiments`. */
  records: ExperimentRecord[];
  /** Index of the next experiment to start. */
  nextIndex: number;
  cancelRequested: boolean;
  /** How many times the batch workflow has continued as new. */
  generation: number;
}

/** A child's report to its batch, sent by workflow id so that it survives continue-as-new. */
export interface ExperimentReport {
  index: number;
  record: ExperimentRecord;
}

/** Input of one experiment's workflow. */
export interface ExperimentInput {
  batchId: string;
  index: number;
  experiment: ExperimentSpec;
  settings: BatchSettings;
}

/** Input of one run of an experiment's process. */
export interface RunInput extends ExperimentInput {
  /** Runs of the process before this activity was scheduled. */
  runsBefore: number;
}

/** What an activity returns after the process exited 0. */
export interface RunOutcome {
  /** Runs this activity made, including those lost with a worker. */
  runs: number;
}

/** Details attached to an `ExperimentFailed` / `ExperimentNotRunnable` failure. */
export interface RunFailureDetails {
  runs: number;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  logFile: string;
}

/**
 * What each heartbeat of a run records: the process group, for the next attempt to find a process
 * left by a lost worker, and the progress read from its output, for `status` and the Web UI.
 */
export interface RunHeartbeat {
  groupId?: number;
  host: string;
  /** When this run's process started (epoch ms). */
  startedAt: number;
  progress?: Progress;
  /** When the progress last changed (epoch ms). */
  progressAt?: number;
}

export const FAILURE_TYPES = {
  /** The process ran and failed (non-zero exit, signal, timeout): retried by the experiment workflow. */
  experimentFailed: 'ExperimentFailed',
  /** The process could not be started and never will be: never retried. */
  notRunnable: 'ExperimentNotRunnable',
  /** The worker stopped under the process: retried by Temporal, not counted as a failure. */
  workerShutdown: 'WorkerShutdown',
} as const;

export interface ExperimentView {
  id: string;
  name: string;
  priority: Priority;
  status: ExperimentStatus;
  attempts: number;
  exitCode: number | null;
  /** Why the last attempt ended, when it did not exit 0; null otherwise. */
  reason: EndReason | null;
  startedAt: string | null;
  closedAt: string | null;
}

export interface ExperimentSummary extends ExperimentView {
  status: 'completed' | 'failed' | 'cancelled';
}

export interface BatchSummary {
  batchId: string;
  experiments: ExperimentSummary[];
}
