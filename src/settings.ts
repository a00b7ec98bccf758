/**
 * Every environment variable staged reads, with its default beside it. Connection settings
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, profiles) are @temporalio/envconfig's: see connection.ts.
 */
import { homedir } from 'node:os';
import path from 'node:path';
import { DEFAULT_ADOPT_WINDOW_MS } from './model/types.js';

type Env = NodeJS.ProcessEnv;

/** The Web UI's address (http://host:port) for links to batches, when staged cannot tell it (a remote server). */
export const webUiSetting = (env: Env = process.env): string | undefined => env.STAGED_WEB_UI || undefined;

/** The task queue workers poll and batches are sent to. */
export const taskQueueSetting = (env: Env = process.env): string => env.STAGED_TASK_QUEUE || 'staged';

/** submit's default `--dir`. */
export const experimentsDirSetting = (env: Env = process.env): string => env.STAGED_EXPERIMENTS_DIR || './experiments';

/** How long Temporal keeps a finished batch, as written (`30d`); validated where it is used. */
export const retentionSetting = (env: Env = process.env): string | undefined => env.STAGED_RETENTION || undefined;

/** Names this machine; its own task queue is `<queue>@<machine id>`. */
export const machineIdSetting = (env: Env = process.env): string | undefined => env.STAGED_MACHINE_ID || undefined;

/** Where runs are kept on this machine, across workers. */
export const runsRootSetting = (env: Env = process.env): string =>
  env.STAGED_RUNS_DIR || path.join(homedir(), '.staged', 'runs');

/** Where a worker serves Prometheus metrics (`--metrics`); off when unset. */
export const metricsSetting = (env: Env = process.env): string | undefined => env.STAGED_METRICS || undefined;

/** The interpreter of `.py` experiments. */
export const pythonSetting = (env: Env = process.env): string => env.STAGED_PYTHON || 'python3';

/** The Temporal CLI to use instead of finding or building one. */
export const temporalCliSetting = (env: Env = process.env): string | undefined => env.TEMPORAL_CLI || undefined;

/** The cluster's programs to use instead of finding or building them (`cluster up`). */
export const temporalServerSetting = (env: Env = process.env): string | undefined => env.TEMPORAL_SERVER || undefined;
export const temporalSqlToolSetting = (env: Env = process.env): string | undefined =>
  env.TEMPORAL_SQL_TOOL || undefined;
export const temporalUiServerSetting = (env: Env = process.env): string | undefined =>
  env.TEMPORAL_UI_SERVER || undefined;

/** `process-scan` stops runs by scanning /proc even where a cgroup per run would work (tests of the fallback). */
export const forcedKillModeSetting = (env: Env = process.env): 'process-scan' | undefined =>
  env.STAGED_KILL_MODE === 'process-scan' ? 'process-scan' : undefined;

/** The SDK's log level in a worker: ERROR, WARN, INFO (default), DEBUG, TRACE. */
export const workerLogLevelSetting = (env: Env = process.env): string => env.STAGED_LOG_LEVEL?.toUpperCase() || 'INFO';

/** Print stack traces of unexpected errors. */
export const debugSetting = (env: Env = process.env): boolean => Boolean(env.STAGED_DEBUG);

/** A worker's defaults, for `staged worker` and for workers made in code (tests, the bench). */
export const WORKER_DEFAULTS = {
  /** Experiment processes one machine runs at once. */
  slots: 3,
  /** Output kept at the start of each attempt's log, in MiB; past it, only the last lines. */
  logLimitMiB: 64,
  /** How long runs outlive their worker, waiting to be adopted by the next one on the machine. */
  adoptWindowMs: DEFAULT_ADOPT_WINDOW_MS,
} as const;
