/**
 * Every option of every command, declared once: its flag, help, default and how its text is parsed.
 * commander's commands (cli/program.ts) and the zod validation (cli/validate.ts) are both made from
 * this table. Light on purpose: `--help` loads no validation library and no Temporal client.
 */
import { isIPv4 } from 'node:net';
import { formatDuration, parseDuration } from '../parse/duration.js';
import { parseInteger, type IntegerLimits } from '../parse/integer.js';
import { parseRetentionMs } from '../server/retention.js';
import { DEV_SERVER_METRICS_PORT } from '../server/ports.js';
import { parseMetricsAddress } from '../parse/metrics-address.js';
import { parseSignalName } from '../parse/signal.js';
import { parseAmount, parseMachineResources, type MachineResources } from '../model/requirements.js';
import {
  experimentsDirSetting,
  machineIdSetting,
  metricsSetting,
  retentionSetting,
  runsRootSetting,
  taskQueueSetting,
  WORKER_DEFAULTS,
} from '../settings.js';

/** How an option appears on the command line; `value` options take text, `list` ones several. */
type OptionShape = 'flag' | 'value' | 'list';

export interface OptionSpec<T = unknown, Always extends boolean = boolean> {
  /** As commander writes it: `--max-concurrent <n>`, `-f, --follow`, `--allow-dir <paths...>`. */
  flags: string;
  help: string;
  shape: OptionShape;
  /** The default as a person would type it (shown in --help); a function when an environment variable sets it. */
  default?: string | (() => string | undefined);
  /** The environment variable behind the default, named in errors about a value that came from it. */
  env?: string;
  choices?: readonly string[];
  hidden?: boolean;
  /** Turns the text into the value; throws a message that reads after the option's name. */
  parse(text: string): T;
  /** Phantom: whether the parsed options always hold a value (a default, or a flag's false). */
  readonly always?: Always;
}

const text = <A extends boolean = false>(flags: string, help: string, extra: Partial<OptionSpec<string>> = {}) =>
  ({ flags, help, shape: 'value', parse: (value: string) => value, ...extra }) as OptionSpec<string, A>;

const flag = (flags: string, help: string) =>
  ({ flags, help, shape: 'flag', parse: (value: string) => value === 'true' }) as OptionSpec<boolean, true>;

const list = (flags: string, help: string) =>
  ({ flags, help, shape: 'list', parse: (value: string) => value.split('\0') }) as OptionSpec<string[], false>;

function integer<A extends boolean = false>(flags: string, help: string, limits: IntegerLimits, fallback?: number) {
  const spec: OptionSpec<number> = { flags, help, shape: 'value', parse: (value) => parseInteger(value, limits) };
  if (fallback !== undefined) spec.default = String(fallback);
  return spec as OptionSpec<number, A>;
}

function duration<A extends boolean = false>(flags: string, help: string, fallback?: string) {
  const spec: OptionSpec<number> = { flags, help, shape: 'value', parse: (value) => parseDuration(value) };
  if (fallback !== undefined) spec.default = fallback;
  return spec as OptionSpec<number, A>;
}

function choice<T extends string>(flags: string, help: string, choices: readonly T[], fallback: T) {
  const parse = (value: string): T => {
    if (!(choices as readonly string[]).includes(value))
      throw new Error(`must be one of ${choices.join(', ')} (got "${value}")`);
    return value as T;
  };
  return { flags, help, shape: 'value', choices, default: fallback, parse } as OptionSpec<T, true>;
}

/** Temporal and the file system both accept these; the batch id names log and results folders. */
const BATCH_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function batchId(flags: string, help: string) {
  const parse = (value: string) => {
    if (!BATCH_ID.test(value)) {
      throw new Error(
        'may use letters, digits, ".", "_" and "-" (ASCII only, at most 100, starting with a letter or digit)',
      );
    }
    return value;
  };
  return { flags, help, shape: 'value', parse } as OptionSpec<string, false>;
}

const PORT = { min: 1, max: 65_535 };

/** The Temporal server binds to an IP address, not a host name. */
function parseIpv4(value: string): string {
  if (!isIPv4(value)) throw new Error(`must be an IPv4 address such as 127.0.0.1 (got "${value}")`);
  return value;
}

export const OPTIONS = {
  // Where: every command that reads or writes a work dir's files.
  workDir: text(
    '--work-dir <dir>',
    'where scripts run and .staged/ and results/ live (default: the directory you ran the command in)',
  ),
  json: flag('--json', 'print only JSON on stdout (an error as {"error": …})'),

  // submit: what to run
  dir: text<true>(
    '--dir <dir>',
    'directory of experiment scripts, relative to the work dir (env STAGED_EXPERIMENTS_DIR)',
    {
      default: () => experimentsDirSetting(),
      env: 'STAGED_EXPERIMENTS_DIR',
    },
  ),
  priority: text(
    '--priority <levels>',
    '"high" runs high and above (critical+high); a list like "medium,low" runs exactly those',
  ),
  experiments: text(
    '--experiments <ids>',
    'comma-separated experiment ids (exp125) or names (exp125_adaptive_stop_loss)',
  ),
  rerunFailed: text('--rerun-failed <batchId>', 'run only the experiments of that batch that did not complete'),
  skipCompleted: flag('--skip-completed', 'leave out experiments of this directory that completed in an earlier batch'),
  sweep: list(
    '--sweep <sweep...>',
    'sweep the one selected script (it has no Sweep: line) over these values, e.g. "lr=1e-3,1e-4" "seed=1..5" ' +
      '(docs/sweeps.md)',
  ),
  maxExperiments: integer<true>(
    '--max-experiments <n>',
    'the most experiments (sweep members included) the batch may hold',
    { min: 1 },
    10_000,
  ),

  // submit: how to run it
  maxConcurrent: integer<true>('--max-concurrent <n>', 'experiments of this batch running at once', { min: 1 }, 3),
  maxRetries: integer<true>(
    '--max-retries <n>',
    'retries after a failed attempt (non-zero exit or signal; timeouts with --retry-timeouts)',
    { min: 0 },
    2,
  ),
  retryDelay: duration<true>(
    '--retry-delay <duration>',
    'delay before the first retry; doubles for each further one',
    '10s',
  ),
  timeout: duration('--timeout <duration>', 'longest one attempt may run before it is killed (default: no limit)'),
  retryTimeouts: flag(
    '--retry-timeouts',
    'retry an attempt that hit --timeout (default: it fails; it would most likely time out again)',
  ),
  heartbeatTimeout: duration<true>(
    '--heartbeat-timeout <duration>',
    'how soon a run whose worker stopped answering is declared lost (at least 2s)',
    '30s',
  ),
  // Always set: without the flag, derived from --heartbeat-timeout (command-table.ts).
  killGrace: duration<true>(
    '--kill-grace <duration>',
    'time between SIGTERM and SIGKILL when stopping a process tree, below --heartbeat-timeout ' +
      '(default: a third of it, at most 10s)',
  ),
  batchId: batchId(
    '--batch-id <id>',
    'id of the batch (default: batch-<date>-<time>-<random>); refused if results/<id>/ exists',
  ),
  historyLimit: {
    ...integer('--history-limit <events>', 'history length at which the batch continues as new', { min: 100 }),
    hidden: true,
  },
  notifyCmd: text(
    '--notify-cmd <command>',
    'run this shell command when an experiment fails for good and when the batch ends; it finds what happened ' +
      'in STAGED_EVENT, STAGED_EXPERIMENT, STAGED_STATUS, STAGED_EXIT_CODE, STAGED_LOG, STAGED_NOTIFY_ID … ' +
      '(more events and webhooks: "notify" in staged.config.json)',
  ),
  // submit: checkpoints (docs/checkpoints.md)
  signalBefore: duration(
    '--signal-before <duration>',
    "send the --warn-signal to each run's main process once, this long before its --timeout stops it",
  ),
  warnSignal: text('--warn-signal <signal>', 'the signal --signal-before sends (USR1, SIGUSR2, …; default SIGUSR1)', {
    parse: parseSignalName,
  }),
  maxRequeues: integer<true>(
    '--max-requeues <n>',
    'times an experiment may ask to start again by exiting 85 (checkpointed), using no retry; past it, a failure',
    { min: 0 },
    100,
  ),
  detach: flag('--detach', 'start the batch and return without waiting'),
  dryRun: flag('--dry-run', 'print the queue in start order with each priority and its reason; start nothing'),

  // submit: the code as submitted (docs/code.md)
  snapshot: flag(
    '--snapshot',
    'copy the experiments directory (and the "snapshot" paths of staged.config.json) into results/<id>/code/ ' +
      'and run every attempt from the copy, so later edits do not change what runs',
  ),
  snapshotLimit: {
    flags: '--snapshot-limit <size>',
    help: 'largest snapshot --snapshot copies, e.g. 500M or 2G (default: "snapshotLimit" of the config, else 200M)',
    shape: 'value',
    parse: parseAmount,
  } as OptionSpec<number, false>,

  // Following a batch
  statusInterval: duration<true>('--status-interval <duration>', 'how often the [STATUS] line is printed', '30s'),
  members: flag('--members', 'list every member of each sweep (else: running ones, and 10 more per sweep)'),
  experiment: text(
    '--experiment <id>',
    'only this experiment (its name, or an id that names one experiment) of the batch',
  ),
  // Steering a running batch
  hold: flag('--hold', 'keep these queued experiments from starting (status held) until --release'),
  release: flag('--release', 'let held experiments start again, in their place by priority'),
  after: text(
    '--after <experiments>',
    'start the added experiments only once these (comma-separated ids or names) completed, as an After: line does',
  ),

  attempt: integer('--attempt <n>', 'which attempt (run) to show, 1-based', { min: 1 }),
  follow: flag('-f, --follow', 'keep printing as the output grows, on to later attempts, until the experiment ends'),

  // server
  port: integer<true>('--port <n>', 'gRPC port', PORT, 7233),
  uiPort: integer<true>('--ui-port <n>', 'Web UI port', PORT, 8233),
  metricsPort: integer(
    '--metrics-port <n>',
    `the server's Prometheus metrics: http://localhost:<n>/metrics (default: ${DEV_SERVER_METRICS_PORT}, ` +
      'or a free port when it is taken)',
    PORT,
  ),
  dbFile: text(
    '--db-file <path>',
    'SQLite file that keeps everything across restarts (default: <work dir>/.staged/temporal.db)',
  ),
  retention: {
    flags: '--retention <duration>',
    help: 'how long a finished batch stays in Temporal, at least 1d (env STAGED_RETENTION)',
    shape: 'value',
    default: () => retentionSetting() ?? '30d',
    env: 'STAGED_RETENTION',
    parse: parseRetentionMs,
  } as OptionSpec<number, true>,

  // cluster
  host: text<true>(
    '--host <ip>',
    'address the Temporal server and Web UI listen on (0.0.0.0: every interface; see docs/cluster.md first)',
    { default: '127.0.0.1', parse: parseIpv4 },
  ),
  postgresPort: integer<true>('--postgres-port <n>', "PostgreSQL's port (on 127.0.0.1)", PORT, 55_432),

  // worker
  slots: integer<true>(
    '--slots <n>',
    'experiment processes this machine runs at once, across all batches',
    { min: 1 },
    WORKER_DEFAULTS.slots,
  ),
  // Every command that addresses a task queue rather than a batch (a batch keeps the queue it was submitted to).
  taskQueue: text<true>(
    '--task-queue <name>',
    'the task queue: submit sends batches to it, workers poll it (env STAGED_TASK_QUEUE)',
    { default: () => taskQueueSetting(), env: 'STAGED_TASK_QUEUE' },
  ),
  allQueues: flag('--all-queues', 'without a batch id: list the batches of every task queue, with their queue'),
  logLimit: integer<true>(
    '--log-limit <MiB>',
    'output kept at the start of each log file; past it, only the last lines',
    { min: 1 },
    WORKER_DEFAULTS.logLimitMiB,
  ),
  adoptWindow: duration<true>(
    '--adopt-window <duration>',
    'how long runs outlive this worker, waiting for a worker on this machine to adopt them',
    formatCompact(WORKER_DEFAULTS.adoptWindowMs),
  ),
  onShutdown: choice(
    '--on-shutdown <mode>',
    'on SIGTERM/Ctrl-C: leave runs for the next worker here, or stop them',
    ['leave', 'stop'] as const,
    'leave',
  ),
  machineId: text('--machine-id <id>', 'names this machine (env STAGED_MACHINE_ID; default: the host name)', {
    default: () => machineIdSetting(),
    env: 'STAGED_MACHINE_ID',
  }),
  allowDir: list(
    '--allow-dir <paths...>',
    'run only scripts inside these directories (default: the current directory)',
  ),
  metrics: {
    flags: '--metrics <address>',
    help:
      'serve Prometheus metrics on HOST:PORT (a bare PORT: 127.0.0.1), e.g. 9464; ' +
      'default off: several workers may run on one machine (env STAGED_METRICS)',
    shape: 'value',
    default: () => metricsSetting(),
    env: 'STAGED_METRICS',
    parse: parseMetricsAddress,
  } as OptionSpec<string, false>,
  resources: {
    flags: '--resources <list>',
    help:
      'what this machine has: counted amounts (gpu=2,mem=64G; K/M/G/T are powers of 1024) and capabilities ' +
      '(avx512: any number of runs may use it); experiments ask with a Requires: line. ' +
      'Named units, one run each: gpu=0,1,2,3 (gpu=N: devices 0..N-1), gpu=auto (nvidia-smi -L), port=9000..9003; ' +
      "GPUs stay within the worker's own CUDA_VISIBLE_DEVICES when set",
    shape: 'value',
    parse: parseMachineResources,
  } as OptionSpec<MachineResources, false>,
  runsDir: text<true>('--runs-dir <path>', 'where runs are kept on this machine (env STAGED_RUNS_DIR)', {
    default: () => runsRootSetting(),
    env: 'STAGED_RUNS_DIR',
  }),
} satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** `5m` rather than formatDuration's `5.0min`: a default must read as something the user could type. */
function formatCompact(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return formatDuration(ms);
}

/** The option's long flag, as messages name it: `--max-concurrent`. */
export function longFlag(spec: OptionSpec): string {
  return /--[a-z][a-z-]*/.exec(spec.flags)![0];
}

/** The default as text, the environment read now. */
export function defaultText(spec: OptionSpec): string | undefined {
  return typeof spec.default === 'function' ? spec.default() : spec.default;
}

/** A command's raw defaults, as commander would hand them over with no option given. */
export function rawDefaults(names: readonly OptionName[]): Record<string, string> {
  return Object.fromEntries(
    names.flatMap((name) => {
      const text = defaultText(OPTIONS[name]);
      return text === undefined ? [] : [[name, text]];
    }),
  );
}
