/**
 * Every command: what it does, its arguments, which options of the table it takes, and the checks
 * that span several options. A new command is an entry here and a file in cli/commands/.
 */
import { OPTIONS, type OptionName, type OptionSpec } from './options.js';

export interface CommandSpec {
  description: string;
  /** commander's notation: `<batchId>` required, `[batchId]` optional, `[options...]` the rest. */
  arguments: readonly { name: string; help?: string }[];
  options: readonly OptionName[];
  helpAfter?: string;
  /** Defaults that depend on other options: each fills in what the user left out, before the checks. */
  derived?: readonly ((options: Record<string, unknown>) => void)[];
  /** Options that keep no default here: absent unless given (`change --max-concurrent`). */
  withoutDefaults?: readonly OptionName[];
  /** The help of an option as this command uses it, where it differs from the table's. */
  helpFor?: Partial<Record<OptionName, string>>;
  /** Rules across options; each returns a message when broken. */
  checks?: readonly ((options: Record<string, unknown>) => string | undefined)[];
}

/** Heartbeats are sent at most once a second; a timeout must leave room for at least two. */
const MIN_HEARTBEAT_TIMEOUT_MS = 2_000;

const heartbeatLongEnough = (options: Record<string, unknown>) =>
  (options.heartbeatTimeout as number) < MIN_HEARTBEAT_TIMEOUT_MS
    ? '--heartbeat-timeout must be at least 2s: twice the 1-s minimum heartbeat interval, ' +
      'or a healthy run is declared lost'
    : undefined;

/** The kill grace when none is given: 10 s, or a third of a shorter heartbeat timeout. */
const MAX_DEFAULT_KILL_GRACE_MS = 10_000;

function defaultKillGraceMs(heartbeatTimeoutMs: number): number {
  return Math.min(MAX_DEFAULT_KILL_GRACE_MS, Math.floor(heartbeatTimeoutMs / 3));
}

const killGraceFromHeartbeat = (options: Record<string, unknown>) => {
  if (options.killGrace === undefined && typeof options.heartbeatTimeout === 'number') {
    options.killGrace = defaultKillGraceMs(options.heartbeatTimeout);
  }
};

const killGraceShorter = (options: Record<string, unknown>) =>
  (options.killGrace as number) >= (options.heartbeatTimeout as number)
    ? '--kill-grace must be shorter than --heartbeat-timeout: ' +
      'a stopped run must be dead before its worker is declared lost, ' +
      'or a second copy may start while the first still runs'
    : undefined;

/** `--signal-before` warns a run ahead of its `--timeout`: without one, or as long, it means nothing. */
const signalBeforeTimeout = (options: Record<string, unknown>) => {
  const before = options.signalBefore as number | undefined;
  if (before === undefined) {
    return options.warnSignal === undefined
      ? undefined
      : '--warn-signal needs --signal-before: it names what that sends';
  }
  const timeout = options.timeout as number | undefined;
  if (timeout === undefined) return '--signal-before needs --timeout: it warns a run that long before its timeout';
  if (before >= timeout) return '--signal-before must be shorter than --timeout, or the warning comes at the start';
  return undefined;
};

export const COMMANDS = {
  submit: {
    description:
      'Run the selected experiments as one batch, highest priority first, at most --max-concurrent at a time.',
    arguments: [],
    options: [
      'dir',
      'workDir',
      'priority',
      'experiments',
      'maxConcurrent',
      'maxRetries',
      'retryDelay',
      'timeout',
      'retryTimeouts',
      'heartbeatTimeout',
      'killGrace',
      'statusInterval',
      'batchId',
      'rerunFailed',
      'skipCompleted',
      'sweep',
      'maxExperiments',
      'notifyCmd',
      'detach',
      'dryRun',
      'json',
      'historyLimit',
      'signalBefore',
      'warnSignal',
      'maxRequeues',
      'snapshot',
      'snapshotLimit',
      'taskQueue',
    ],
    derived: [killGraceFromHeartbeat],
    helpFor: {
      taskQueue: 'task queue to send the batch to: only workers polling it run its experiments (env STAGED_TASK_QUEUE)',
    },
    checks: [heartbeatLongEnough, killGraceShorter, signalBeforeTimeout],
    helpAfter:
      '\nWith --json, stdout holds only the final summary (or the dry-run queue, or {"batchId"} when detached).\n' +
      'Exit codes: 0 all completed, 1 some failed, 2 bad input (nothing started), 130 detached with Ctrl-C.\n' +
      'Notify: --notify-cmd \'notify-send "$STAGED_EXPERIMENT $STAGED_STATUS"\' runs on failed and batch-end;\n' +
      'webhooks and other events: "notify" in staged.config.json (docs/usage.md, Notifications).\n' +
      'Connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE or a temporal.toml profile (TEMPORAL_PROFILE); with none\n' +
      'and nothing on localhost:7233, staged starts a dev server and a worker in the background.',
  },
  status: {
    description:
      'Show a batch: counts, ETA, and each running experiment with its attempt, elapsed time, progress and ETA; ' +
      "a sweep's members under their script (without an id: the recent batches of the task queue in use).",
    arguments: [{ name: '[batchId]' }],
    options: ['workDir', 'json', 'members', 'taskQueue', 'allQueues'],
    helpFor: {
      taskQueue:
        'without a batch id: list the batches of this task queue (env STAGED_TASK_QUEUE); a batch id finds its ' +
        'batch on any queue',
    },
  },
  watch: {
    description:
      'Follow a running batch until it ends: events, and per experiment its progress and ETA, redrawn in place on a ' +
      'terminal (Ctrl-C detaches; the batch runs on). Exit 0 when all completed, 1 otherwise.',
    arguments: [{ name: '<batchId>' }],
    options: ['workDir', 'statusInterval'],
  },
  cancel: {
    description: 'Cancel a batch: queued experiments never start, running process trees are killed.',
    arguments: [{ name: '<batchId>' }],
    options: ['experiment'],
  },
  add: {
    description:
      'Add experiments to a running batch: discovered, prioritised and named as submit does them, queued in ' +
      'priority order behind those already queued.',
    arguments: [
      { name: '<batchId>' },
      { name: '<paths...>', help: "scripts, or the directory of scripts, inside the batch's experiments directory" },
    ],
    options: ['priority', 'after', 'maxExperiments', 'json'],
    helpFor: { priority: 'give every added experiment this priority (critical, high, medium or low)' },
    helpAfter:
      '\nExamples:\n' +
      '  staged add batch-20261206-0915-ab12 experiments/exp140_momentum.py --priority high\n' +
      '  staged add batch-20261206-0915-ab12 experiments/exp150_eval.py --after exp125,exp126',
  },
  change: {
    description:
      "Change a running batch: reprioritise, hold or release queued experiments, or change the batch's " +
      '--max-concurrent (at once; nothing running is stopped) and --max-retries (for experiments not yet ended).',
    arguments: [
      { name: '<batchId>' },
      { name: '[experiments...]', help: 'queued experiments, by name or by an id that names one (exp125)' },
    ],
    options: ['priority', 'hold', 'release', 'maxConcurrent', 'maxRetries', 'json'],
    withoutDefaults: ['maxConcurrent', 'maxRetries'],
    helpFor: {
      priority: 'move the experiments to this priority in the queue (critical, high, medium or low)',
      maxConcurrent: 'experiments of this batch running at once, from now on',
      maxRetries: 'retries after a failed attempt, for every experiment not yet ended; a waiting retry past it ends',
    },
    helpAfter:
      '\nExamples:\n' +
      '  staged change <batchId> exp125 exp126 --priority critical\n' +
      '  staged change <batchId> exp130 --hold        (later: --release)\n' +
      '  staged change <batchId> --max-concurrent 6',
  },
  pause: {
    description:
      'Pause a batch: nothing new starts; running experiments run on to their end. With experiments: freeze ' +
      'their running runs where they are (cgroup.freeze, else SIGSTOP to the whole process tree) and stop their ' +
      '--timeout clock; the runs stay held by their workers, never lost. Undo with resume.',
    arguments: [
      { name: '<batchId>' },
      { name: '[experiments...]', help: 'running experiments to freeze, by name or by an id that names one (exp125)' },
    ],
    options: ['json'],
    helpAfter:
      '\nExamples:\n' +
      '  staged pause <batchId>                 (the batch starts nothing new)\n' +
      '  staged pause <batchId> exp125          (exp125 is frozen; status shows it paused, and since when)',
  },
  resume: {
    description:
      'Resume a paused batch: queued experiments start again as places free up. With experiments: thaw their ' +
      'frozen runs, which go on where they stopped.',
    arguments: [
      { name: '<batchId>' },
      { name: '[experiments...]', help: 'paused experiments to thaw, by name or by an id that names one' },
    ],
    options: ['json'],
    helpAfter: '\nExamples:\n  staged resume <batchId>\n  staged resume <batchId> exp125',
  },
  logs: {
    description: "Print an experiment's output (its latest attempt unless --attempt), or follow it while it runs.",
    arguments: [
      { name: '<batchId>' },
      { name: '<experiment>', help: 'experiment name, or an id that names one (exp125)' },
    ],
    options: ['workDir', 'attempt', 'follow'],
  },
  worker: {
    description:
      'Run a worker on this machine until SIGINT/SIGTERM: it runs batches and experiment processes ' +
      '(connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE or a profile).',
    arguments: [],
    options: [
      'slots',
      'resources',
      'taskQueue',
      'logLimit',
      'adoptWindow',
      'onShutdown',
      'machineId',
      'allowDir',
      'runsDir',
      'metrics',
    ],
    helpFor: {
      taskQueue: 'task queue to poll: the worker runs the batches submitted to it (env STAGED_TASK_QUEUE)',
    },
  },
  server: {
    description:
      "Run Temporal's dev server in the foreground (SQLite file, Web UI, task-queue priority on, 30-day retention).",
    arguments: [],
    options: ['workDir', 'port', 'uiPort', 'metricsPort', 'dbFile', 'retention'],
  },
  down: {
    description: 'Stop the dev server and worker that submit started in the background.',
    arguments: [],
    options: ['workDir'],
  },
  cluster: {
    description:
      'Run a Temporal cluster on this machine in the background: PostgreSQL, the Temporal server and the Web UI ' +
      '(up), stop it (down), show what runs where (status), or only find or build its programs (prepare).',
    arguments: [{ name: '<action>', help: 'up, down, status or prepare' }],
    options: ['workDir', 'host', 'port', 'uiPort', 'postgresPort', 'retention'],
    helpAfter:
      '\nThe server takes 10 ports from --port (7233-7242 by default). Files, logs and the PostgreSQL data are kept\n' +
      'in <work dir>/.staged/cluster/. Workers and submit reach it with TEMPORAL_ADDRESS=<host>:<port>.\n' +
      'Deployment on several machines: docs/cluster.md.',
  },
  quota: {
    description:
      'Show the quotas of staged.config.json and their budgets (calls in the window, pauses, the effective limit ' +
      'and its history), pause or resume one, or reset its limit to the declared one.',
    arguments: [
      { name: '<action>', help: 'show, pause, resume or reset' },
      { name: '[name]', help: 'the quota (show: all when absent)' },
      { name: '[duration]', help: 'pause: how long, e.g. 15m' },
    ],
    options: ['workDir', 'json', 'taskQueue'],
    helpFor: {
      taskQueue: 'the task queue whose budgets to show or change: each queue has its own (env STAGED_TASK_QUEUE)',
    },
  },
  'temporal-cli': {
    description: 'Print the path of the Temporal CLI, building it with Go if it is missing.',
    arguments: [],
    options: [],
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

type Table = typeof OPTIONS;
type ValueOf<S> = S extends OptionSpec<infer T, infer Always> ? (Always extends true ? T : T | undefined) : never;

/** A command's options after validation, typed from the table: a renamed option fails to compile where it is used. */
export type OptionsOf<C extends CommandName> = { [N in (typeof COMMANDS)[C]['options'][number]]: ValueOf<Table[N]> };
