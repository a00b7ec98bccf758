/**
 * The contract shared by the CLI, the workflows and the activities.
 * Workflow code imports this file, so it must stay free of Node APIs and I/O.
 *
 * One vocabulary, in code, output and docs (every word: ARCHITECTURE.md, glossary):
 * - run: one start of an experiment's process, numbered from 1; people see it as "attempt N" (its log is
 *   attempt-N.log), and `attempts` counts the runs so far, the current one and lost ones included.
 * - retry: a run after a failed one; at most `maxRetries`, waiting `retryDelayMs` doubled each time
 *   (workflows/retry-timing.ts).
 * - lost run: a run whose worker let go of it (crash, shutdown, cut off); it is adopted where it lives or
 *   started again, and never uses a retry.
 * - hold: a worker's activity owns a live run: renews its lease, heartbeats, reports its end (activities/hold-run.ts).
 * - adopt: a worker on the run's machine takes over a run its keeper still runs, once its holder let go.
 */

import type { Progress, ProgressMark } from './progress.js';
import type { Notification } from './notifications.js';
import type { CodeState } from './code.js';

export const PRIORITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** The priorityKey Temporal's task queues serve by: lower is served first. */
export const TEMPORAL_PRIORITY_KEY: Record<Priority, number> = { critical: 1, high: 2, medium: 3, low: 4 };

/** One experiment script as the batch sees it; kept small because a batch holds thousands. */
export interface ExperimentSpec {
  /** Part of the file name before the first `_`, e.g. `exp125`. */
  id: string;
  /** File name without extension, e.g. `exp125_adaptive_stop_loss`; unique within a batch. */
  name: string;
  /** File name inside the batch's experiments directory. */
  file: string;
  priority: Priority;
  /** Names of the quotas its calls draw from (`Quota:` line); absent when none. */
  quotas?: string[];
  /** `Metering: manual`: only its explicit `acquire` calls draw from its quotas; absent: its HTTP calls do too. */
  metering?: 'manual';
  /** The calls it expects to make (`Calls:` line), for the quota ETA; absent when not estimated. */
  calls?: number;
  /** Machine resources a run needs (`Requires:` line), amounts by name; absent when none. */
  requires?: Record<string, number>;
  /** Experiments (by name) that must complete before it starts (`After:` line); absent when none. */
  after?: string[];
  /** Experiments (by name) that must end, in any way, before it starts (`After-any:` line); absent when none. */
  afterAny?: string[];
  /** A sweep member's parameters (`Sweep:` line or `submit --sweep`), in declared order; absent for a plain script. */
  params?: Record<string, string>;
}

/**
 * A quota as declared in staged.config.json: at most `limit` calls in any window of `windowMs`,
 * counted when each call is made, across every batch and machine. `submit` hands it to the quota's
 * budget workflow, which owns it from then on.
 */
export interface QuotaDeclaration {
  limit: number;
  windowMs: number;
  /** `host` or `host:port`: requests to these are metered without code changes. */
  hosts: string[];
  /** Experiments using this quota that run at once, across all batches and machines. */
  maxConcurrent?: number;
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
  /**
   * Only in batches submitted before each quota's budget owned it: their quotas' declarations, by name. Today's
   * batches carry none: an experiment names its quotas (`ExperimentSpec.quotas`), and their budgets say the rest.
   */
  quotas?: Record<string, QuotaDeclaration>;
  /** The work dir's git state at submit and, with `--snapshot`, the copy every run uses; absent in older batches. */
  code?: CodeState;
  /** `--signal-before`: the warning signal goes to a run's main process this long before its `timeoutMs` stops it. */
  signalBeforeMs?: number;
  /** The warning signal (`--warn-signal`, default SIGUSR1); read only with `signalBeforeMs`. */
  warnSignal?: string;
  /** `--max-requeues`: runs exiting REQUEUE_EXIT_CODE started again without a retry; absent (older batches): none. */
  maxRequeues?: number;
  /** The batch under whose results its experiments' checkpoints live (`--rerun-failed`); absent: this batch. */
  checkpointBatch?: string;
}

/**
 * `queued`: not started, or started and waiting for a worker slot; `running`: its process runs;
 * `waiting-quota`: its last run failed after its API refused it (429, or exit 75); it runs again, using no retry.
 */
export type ExperimentStatus =
  'queued' | 'held' | 'running' | 'retrying' | 'waiting-quota' | 'completed' | 'failed' | 'cancelled' | 'skipped';

/** Why an attempt ended other than by exiting 0; `refused`: a worker would not start its script (never retried). */
export const END_REASONS = ['exit-code', 'signal', 'timeout', 'cancelled', 'worker-lost', 'refused'] as const;
export type EndReason = (typeof END_REASONS)[number];
export const FINAL_STATUSES: readonly ExperimentStatus[] = ['completed', 'failed', 'cancelled', 'skipped'];

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
  /** Calls granted to its ended runs, by quota (a run's own worker counts them); absent when it uses no quota. */
  calls?: Record<string, number>;
  /** Since when its run is frozen (`pause <batchId> <exp>`); absent while it runs on. */
  pausedSince?: number;
  /** Runs that exited REQUEUE_EXIT_CODE and were started again without a retry; absent when none. */
  requeues?: number;
  /** Runs lost with their worker (surely stopped) and started again without a retry; absent when none. */
  lostRuns?: number;
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
  /** Index of the next experiment to start, in order. */
  nextIndex: number;
  /** Experiments before `nextIndex` deferred while their quota was busy; they start first (start-order.ts). */
  deferred?: number[];
  cancelRequested: boolean;
  /** Since when the batch starts nothing new (`pause`); absent while it runs on. */
  pausedSince?: number;
  /** How many times the batch workflow has continued as new. */
  generation: number;
  /** The config's `notify` list and `--notify-cmd`; absent when none. */
  notifications?: Notification[];
  /** The latest notifications that failed for good, one line each (`status` shows them); absent when none. */
  notifyFailures?: string[];
  /** By index, the run of a started experiment that exited 0 and gave its place back (freed-places.ts). */
  placesFreed?: Record<number, number>;
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
  /** The experiment workflow's version its batch started it at (EXPERIMENT_VERSION then); absent before issue 22. */
  version?: number;
}

/**
 * Experiments started at version 1 or later take the changes once behind their own `patched()` ids (quota-slots,
 * run-watchdog, fruitless-starts-reset, requeue) without recording markers: a marker costs two history events.
 */
export const EXPERIMENT_VERSION = 1;

/**
 * A script's "checkpointed, start me again": the experiment runs again without using a retry (`--max-requeues`).
 * 85: outside sysexits.h (64–78, whose 75 is a quota's refusal), below the shell's 126–127 and signals' 128+.
 */
export const REQUEUE_EXIT_CODE = 85;

/** How long a worker's runs outlive it, waiting to be adopted, unless `--adopt-window` says otherwise. */
export const DEFAULT_ADOPT_WINDOW_MS = 5 * 60_000;

/** Where a run lives: the machine, the task queue only that machine polls, and the run's directory there. */
export interface RunLocation {
  machineId: string;
  /** The machine queue (`<queue>@<machine id>`); named `hostQueue` in histories, so it stays so. */
  hostQueue: string;
  runKey: string;
  /** The run number (1-based) of the experiment. */
  run: number;
  /** How long that machine keeps an unadopted run alive; after it, the run is surely stopped. */
  adoptWindowMs: number;
}

/** Input of the activity that starts a run (on the shared queue) or adopts one (on its machine's queue). */
export interface RunInput extends ExperimentInput {
  /** The run number this activity starts, 1-based; every start of the process gets a new one. */
  run: number;
  /** Set when the run already lives on a machine: adopt it there, never start another. */
  adopt?: RunLocation;
}

/** What the activity returns after the process exited 0. */
export interface RunOutcome {
  run: number;
  /** When the process started (epoch ms): a short run may end before its start was announced. */
  startedAt?: number;
  /** When the process ended, as its keeper recorded it: a run that ended during a server outage keeps its own end. */
  endedAt?: number;
  /** Calls granted to the run, by quota, while its last worker held it; absent when it uses no quota. */
  calls?: Record<string, number>;
}

/** Details attached to an `ExperimentFailed` / `ExperimentNotRunnable` failure. */
export interface RunFailureDetails {
  run: number;
  exitCode: number | null;
  signal: string | null;
  reason: EndReason;
  logFile: string;
  startedAt?: number;
  /** As RunOutcome's. */
  endedAt?: number;
  /** A 429 was reported during the run, or it exited 75 (EX_TEMPFAIL): a quota failure, which uses no retry. */
  quotaLimited?: { retryAfterMs?: number };
  /** As RunOutcome's. */
  calls?: Record<string, number>;
}

/** Details attached to a `RunLost` failure: the run may still live there (adopt it), or is surely gone. */
export interface RunLostDetails {
  location?: RunLocation;
  /** True when the run's processes are surely stopped: it may start again anywhere. */
  stopped: boolean;
  /** Whether a process of this run ever started. */
  started: boolean;
  /** Handed back by a worker that does not serve its directories: the own queue of a live worker that does. */
  tryQueue?: string;
}

/** A run's progress as `status` and the Web UI show it, from the heartbeat details of its activity. */
export interface RunHeartbeat {
  host: string;
  /** When this run's process started (epoch ms); until it has, when the activity started. */
  startedAt: number;
  progress?: Progress;
  /** When the progress last changed (epoch ms). */
  progressAt?: number;
  /** The run's first progress report: a run resumed from its checkpoint starts part-way (absent: none yet). */
  firstProgress?: ProgressMark;
  /** The run's frozen time up to `progressAt` (`pause <batchId> <exp>`): its ETA counts time not frozen. */
  frozenMs?: number;
  /** Calls granted to the run by quota, counted by the worker that holds it now. */
  calls?: Record<string, number>;
  /** When the server last heard from the run's worker (epoch ms): filled in by `status`, never sent. */
  heardAt?: number;
  /** Since when no worker has held the run while its adoptions keep failing (epoch ms): from the workflow's memo. */
  unheldSince?: number;
  /** The adoption window of the run's machine: past it without a heartbeat, no process of the run is alive. */
  adoptWindowMs?: number;
  /** The named units the run holds (`gpu: ['2', '3']`), from its spec; absent when none. */
  units?: Record<string, string[]>;
  /** Only while its worker stops the run (cancel, `--on-shutdown stop`): what it asked and what it did since. */
  stop?: RunStopHeartbeat;
}

/** After asking a keeper to stop, how long beyond the kill grace its worker waits for the end record, then kills it. */
export const STOP_MARGIN_MS = 10_000;

/** A stop its worker heartbeats: its keeper has the kill grace and STOP_MARGIN_MS to record its end. */
export interface RunStopHeartbeat {
  reason: 'cancelled' | 'shutdown';
  /** When the worker asked the keeper to stop (epoch ms). */
  askedAt: number;
  killGraceMs: number;
  /** When the worker killed the keeper, which had not recorded the end in time (epoch ms); its guard stops the run. */
  keeperKilledAt?: number;
}

/** The whole heartbeat of a run: its progress, and where it lives, so it is adopted there if its worker is lost. */
export interface RunHeartbeatDetails extends Omit<RunHeartbeat, 'adoptWindowMs'>, RunLocation {}

export const FAILURE_TYPES = {
  /** The process ran and failed (non-zero exit, signal, timeout): retried by the experiment workflow. */
  experimentFailed: 'ExperimentFailed',
  /** The process could not be started and never will be: never retried. */
  notRunnable: 'ExperimentNotRunnable',
  /** The worker let go of the run (shutdown, lost keeper): adopted where it lives, or started again; no retry used. */
  runLost: 'RunLost',
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
  /** Unless completed: why the last attempt failed, with its log file and the last lines of its output. */
  error?: string;
  /** Calls its runs made, by quota, summed over its runs; absent when it uses no quota. */
  calls?: Record<string, number>;
  /** A sweep member's script (its name without the parameters); absent for a plain script. */
  sweep?: string;
  /** A sweep member's parameters, in declared order; absent for a plain script. */
  params?: Record<string, string>;
  /** Runs it asked to be started again (exit REQUEUE_EXIT_CODE, no retry used); absent when none. */
  requeues?: number;
  /** Runs lost with their worker and started again (no retry used); absent when none. */
  lostRuns?: number;
}

export interface ExperimentSummary extends ExperimentView {
  status: 'completed' | 'failed' | 'cancelled' | 'skipped';
}

export interface BatchSummary {
  batchId: string;
  experiments: ExperimentSummary[];
  /** The code the batch was submitted with (BatchSettings.code); absent in older batches. */
  code?: CodeState;
}
