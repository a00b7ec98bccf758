/**
 * The worker: runs batch and experiment workflows and the experiment processes.
 * Its slots cap how many experiment processes this machine runs, across all batches. It polls two
 * task queues: the shared one (new runs, workflows) and this machine's own (adopting its runs), and with
 * `--resources` the queues of runs that need them (worker-queues.ts).
 */
import { existsSync, realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { CommanderError } from 'commander';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type LogLevel, type NativeConnectionOptions } from '@temporalio/worker';
import { createActivities, type ShutdownMode } from '../activities/index.js';
import { KeeperLauncher } from '../machine/keeper-launch.js';
import { stopWithParentCommand } from './parent-command.js';
import { liveRunQuota, machineRunKeys, runQuotasByToken } from '../machine/machine-runs.js';
import { watchOrphans } from '../machine/orphans.js';
import { isAddressDigest, recordServer, runsDirsOf, runsLayout, serverIdOf } from '../machine/runs-layout.js';
import { QuotaAgent } from '../quota/agent.js';
import { BudgetClient } from '../quota/budget-client.js';
import { legacyQuotaSocketPath, quotaDirOf } from '../quota/run-environment.js';
import { watchServerContact, type ServerContact } from '../machine/server-contact.js';
import { buildCommand, optionsOf } from '../cli/program.js';
import { userDirectory } from '../cli/invocation.js';
import { dropWorkerOnlyEnvironment } from '../cli/worker-command.js';
import { loadConnectionConfig } from '../connection.js';
import { BadInputError, EXIT, oneLine } from '../errors.js';
import type { KillMode } from '../keeper/run-files.js';
import { killModeOfMachine } from '../keeper/kill-mode.js';
import { installRuntime, WorkerMetrics } from '../machine/metrics.js';
import { activityOnlyQueue, watchServerAnswers } from '../machine/sdk-logger.js';
import { machineIdSetting, runsRootSetting, WORKER_DEFAULTS, workerLogLevelSetting } from '../settings.js';
import { WORKFLOW_BUNDLE_PATH, WORKFLOWS_PATH } from './workflow-bundle.js';
import { createRequirementWorkers, workerIdentityOf } from './worker-queues.js';
import { CapacityLedger, leftOverRuns, NO_RESOURCES, watchLeftOverRuns } from '../machine/capacity.js';
import { formatMachineResources, machineQueueOf, workerQueueOf, type MachineResources } from '../model/requirements.js';
import { unitClaimsOf } from '../machine/units.js';
import { withGpuIndices, withGpusFound } from '../machine/gpus.js';
import { formatUnits } from '../model/units.js';
import { runNameOf, runsFoundHere } from '../machine/runs-found.js';
import { HeldRuns } from '../machine/held-runs.js';
import {
  AdoptedRuns,
  foundRunsLines,
  HeldBackLines,
  LetGoRuns,
  LostWhileHeldRuns,
  LostRuns,
  notStoppableLine,
  ShutdownRuns,
  specUnreadableLine,
} from './run-report.js';
import { otherLiveWorkers, recordWorker, watchMachineWorkers } from '../machine/machine-workers.js';
import { aloneAgainLine, sharedMachineLine } from './shared-machine.js';
import { waitOutRepeatedStopSignals } from './stop-signals.js';

/** Time for activities to let go of their runs (or stop them) before the worker gives up. */
const SHUTDOWN_FORCE_MS = 30_000;
/** How long a worker trusts that its server is the one its runs directory is named after. */
const SERVER_VERIFIED_MS = 1_000;
/** At most one heartbeat per run reaches the server in this time, however chatty its progress. */
const PROGRESS_THROTTLE_MS = 2_000;
/** Adopting a run starts no process, so this machine's own queue is not bounded by --slots. */
const ADOPT_SLOTS = 1_000;
/**
 * One poll at a time on this machine's own queue. While the machine is cut off, the server still holds the
 * polls it sent before the cut and hands each an adopt task that never arrives; every such task costs its
 * experiment a heartbeat timeout and a longer back-off before it may run elsewhere (10 polls: ~60 s, not ~15 s).
 */
const ADOPT_POLLS = 1;
/**
 * Workflows kept in the worker's cache (the batches and the experiments being run). The SDK's default
 * follows V8's heap limit, which the young generation's cap in WORKER_NODE_FLAGS lowers (60 -> 39 at a
 * 256 MB old space): too few for a batch at concurrency 40, whose children would be evicted and replayed.
 */
const MAX_CACHED_WORKFLOWS = 60;
/**
 * How long a workflow task waits for this worker on its sticky queue before any worker may take it. The SDK's 10 s
 * stalled every quota budget this worker last ran for 10 s when it stopped or died: every run's calls waited.
 */
const STICKY_TIMEOUT_MS = 1_000;
/** Twice the default heartbeat timeout: a lost run is offered for adoption only after that timeout. */
const MIN_USEFUL_ADOPT_WINDOW_MS = 60_000;

export interface StagedWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The server's address, as the user gave it: recorded beside its runs for whoever reads them. */
  address?: string;
  taskQueue: string;
  /** How many experiment processes this machine runs at once for this task queue. */
  slots: number;
  /** Bytes of output kept at the start of each attempt's log file. */
  logLimitBytes?: number;
  /** Names this machine; its own task queue is `<taskQueue>@<machineId>`. Default: the host name. */
  machineId?: string;
  /** Where runs are kept on this machine, per server (default ~/.staged/runs, env STAGED_RUNS_DIR). */
  runsRoot?: string;
  /** When this worker last reached the server (default: a probe every second on `connection`); stopped with it. */
  contact?: ServerContact;
  /** How long a run outlives its lost worker, waiting to be adopted. */
  adoptWindowMs?: number;
  /** On SIGTERM/SIGINT: leave runs for the next worker here (default), or stop them. */
  onShutdown?: ShutdownMode;
  /**
   * Directories whose scripts this worker runs (experiments and work directories inside them).
   * Default: the user's directory (cli/invocation.ts).
   */
  allowedRoots?: string[];
  /** Workflow code other than this build's: the upgrade test runs an older release's bundle. */
  workflowBundlePath?: string;
  /** What this machine has (`--resources`): runs needing it are taken from its requirement queues. */
  resources?: MachineResources;
}

/** SDK workers, one per task queue (shared, own, requirement queues), run and stopped together. */
export class StagedWorker {
  /** Why it stopped of itself (another server at its address), for its caller to report; else undefined. */
  stoppedBecause: string | undefined;

  constructor(
    private readonly workers: Worker[],
    /** Background loops of this worker, stopped with it. */
    private readonly loops: { stop(): void }[],
    readonly machineQueue: string,
    /** Where it starts runs: this server's directory under the runs root (machine/runs-layout.ts). */
    readonly runsDir: string,
    /** What it found on its machine as it started (runs left by an earlier worker, another live worker's), to say. */
    readonly foundAtStart: string[] = [],
    /** Its lines said before it runs, said when it does (after its caller's start line). */
    private readonly heldBack?: HeldBackLines,
  ) {}

  async run(): Promise<void> {
    this.heldBack?.release();
    const running = this.workers.map((worker) => worker.run());
    try {
      await Promise.race(running);
    } finally {
      this.shutdown();
      await Promise.allSettled(running);
      for (const loop of this.loops) loop.stop();
    }
    await Promise.all(running);
  }

  async runUntil<R>(until: Promise<R> | (() => Promise<R>)): Promise<R> {
    const running = this.run();
    try {
      return await Promise.race([
        typeof until === 'function' ? until() : until,
        running.then(() => Promise.reject(new Error('the worker stopped'))),
      ]);
    } finally {
      this.shutdown();
      await running.catch(() => undefined);
    }
  }

  shutdown(): void {
    for (const worker of this.workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  }

  /** Stops, as on SIGTERM, and says why: its runs are left under their keepers for a worker of their server. */
  stopBecause(why: string): void {
    if (this.stoppedBecause === undefined) console.log(`staged worker: ${why}`);
    this.stoppedBecause ??= why;
    this.shutdown();
  }
}

export async function createStagedWorker(options: StagedWorkerOptions): Promise<StagedWorker> {
  const machineId = options.machineId ?? machineIdSetting() ?? hostname();
  const machineQueue = machineQueueOf(options.taskQueue, machineId);
  const serverId = await serverIdOf(options.connection, options.namespace, options.address);
  const runsRoot = options.runsRoot ?? runsRootSetting();
  const layout = runsLayout(runsRoot, serverId, options.taskQueue);
  const runsDir = layout.own;
  const runsDirs = runsDirsOf(layout);
  await recordServer(layout, options.address ?? 'unknown', options.namespace);
  // Two workers that reach the same runs by different paths (a symbolic link) count the same runs.
  const countedRunsDir = path.join(realPathOrSame(path.dirname(runsDir)), path.basename(runsDir));
  const contact = options.contact ?? watchServerContact(options.connection);
  const held = new HeldRuns();
  // Said once the worker runs, after its start line: the orphan check may find lost runs before that line is printed.
  const heldBack = new HeldBackLines((line) => console.log(`staged worker: ${line}`));
  const log = heldBack.say;
  const lostRuns = new LostRuns(log);
  const made: { worker?: StagedWorker } = {}; // made below: the orphan check may call on it from then on
  // Another server at this address (another project's dev server): its tasks are not for this runs directory.
  const onOther = (otherId: string) =>
    made.worker?.stopBecause(
      `the server at ${options.address ?? 'its address'} is another one now (namespace id ${otherId}; this ` +
        `worker's runs are of ${serverId}, in ${layout.own}): it stops and leaves them to a worker of their ` +
        'server; start a worker again for this one',
    );
  const orphans = watchOrphans(
    options.connection,
    options.namespace,
    layout,
    held,
    log,
    { id: serverId, onOther },
    lostRuns.add,
  );
  let verifiedAt = 0;
  // Asked before each run is started or adopted, at most once a second: a swap of servers takes longer than that.
  const onOwnServer = async (): Promise<boolean> => {
    if (isAddressDigest(serverId) || Date.now() - verifiedAt < SERVER_VERIFIED_MS) return true;
    const id = await serverIdOf(options.connection, options.namespace).catch(() => undefined);
    if (id === undefined) return true; // it cannot say: as before
    if (id === serverId) {
      verifiedAt = Date.now();
      return true;
    }
    onOther(id);
    return false;
  };
  const budgets = new BudgetClient(
    new Client({ connection: options.connection, namespace: options.namespace }),
    options.taskQueue,
  );
  const machineRuns = {
    runKeys: async () => (await Promise.all(runsDirs.map(machineRunKeys))).flat(),
    liveRun: async (runKey: string) =>
      (await liveRunQuota(layout.own, runKey)) ?? (await liveRunQuota(layout.legacy, runKey)),
    findRun: (token: string) => runQuotasByToken(runsDirs, token),
  };
  // Runs started before runs were kept per server connect where that version listened: beside the legacy layout.
  const legacySocket = legacyQuotaSocketPath(layout.legacy);
  const quotaAgent = new QuotaAgent(budgets, quotaDirOf(runsDir), machineRuns, log, legacySocket);
  await quotaAgent.listen();
  const metrics = new WorkerMetrics(Runtime.instance().metricMeter, options.taskQueue, options.slots);
  const resources = withGpuIndices(options.resources ?? NO_RESOURCES);
  const units = unitClaimsOf(runsRoot, resources, runsDir);
  const capacity = new CapacityLedger(resources, options.slots, (isHeld) => leftOverRuns(runsDirs, isHeld), units);
  const shutdownRuns = new ShutdownRuns();
  const adoptedRuns = new AdoptedRuns(log);
  const letGoRuns = new LetGoRuns(log);
  const lostWhileHeldRuns = new LostWhileHeldRuns(log);
  const keepers = new KeeperLauncher();
  keepers.open();
  const allowedRoots = (options.allowedRoots ?? [userDirectory()]).map((root) => path.resolve(userDirectory(), root));
  const servedDirs = allowedRoots.map(realPathOrSame);
  const identity = workerIdentityOf(machineId, capacity.machine, servedDirs, {
    slots: options.slots,
    runsDir: countedRunsDir,
  });
  const activities = createActivities({
    logLimitBytes: options.logLimitBytes ?? WORKER_DEFAULTS.logLimitMiB * 1024 * 1024,
    machineId,
    machineQueue,
    runsDir,
    layout,
    adoptWindowMs: options.adoptWindowMs ?? WORKER_DEFAULTS.adoptWindowMs,
    onShutdown: options.onShutdown ?? 'leave',
    onShutdownDone: shutdownRuns.add,
    onWorkflowClosed: (runKey, how) => log(`stopping ${runNameOf(runKey)}: its experiment workflow is ${how}`),
    onLetGo: letGoRuns.add,
    // A run whose keeper died is not adopted but lost: said as lost, once; one that ended meanwhile is only collected.
    onAdopt: (runKey, found, letGoHere) => {
      if (found === 'lost') lostRuns.add(runKey);
      if (found === 'alive' && letGoHere) letGoRuns.sayBeforeAdoption(runKey);
      if (found === 'alive') adoptedRuns.add(runKey, letGoHere);
    },
    onLostWhileHeld: lostWhileHeldRuns.add,
    onNotStoppable: (runKey, error, when) => log(notStoppableLine(runKey, error, when)),
    onSpecUnreadable: (runKey, why) => log(specUnreadableLine(runKey, why)),
    contact,
    allowedRoots,
    held,
    quotaAgent,
    budgets,
    metrics,
    capacity,
    keepers,
    onOwnServer,
  });
  const common = {
    connection: options.connection,
    namespace: options.namespace,
    activities,
    shutdownForceTime: SHUTDOWN_FORCE_MS,
    maxHeartbeatThrottleInterval: PROGRESS_THROTTLE_MS,
    identity,
  };
  const shared = await Worker.create({
    ...common,
    taskQueue: options.taskQueue,
    // The bundle `npm run build` made; without it (a plain `tsc`), bundle now, which is slower.
    ...(options.workflowBundlePath || existsSync(WORKFLOW_BUNDLE_PATH)
      ? { workflowBundle: { codePath: options.workflowBundlePath ?? WORKFLOW_BUNDLE_PATH } }
      : { workflowsPath: WORKFLOWS_PATH }),
    maxCachedWorkflows: MAX_CACHED_WORKFLOWS,
    stickyQueueScheduleToStartTimeout: STICKY_TIMEOUT_MS,
    // Not gated by the ledger: the shared queue also brings tasks that are not runs (a batch's summary, a quota
    // slot request, a budget's holder check), which runs alive on the machine must never hold up; a run task
    // that finds the machine full waits for its slot in the ledger's claim (run-experiment.ts).
    maxConcurrentActivityTaskExecutions: options.slots,
  });
  const own = await Worker.create({
    ...common,
    taskQueue: activityOnlyQueue(machineQueue),
    maxConcurrentActivityTaskExecutions: ADOPT_SLOTS,
    activityTaskPollerBehavior: { type: 'simple-maximum', maximum: ADOPT_POLLS },
  });
  // Runs handed back to this worker by one not serving their directories; also one worker of several on a machine.
  const handedBack = await Worker.create({
    ...common,
    taskQueue: activityOnlyQueue(workerQueueOf(options.taskQueue, identity)),
    maxConcurrentActivityTaskExecutions: ADOPT_SLOTS,
    activityTaskPollerBehavior: { type: 'simple-maximum', maximum: ADOPT_POLLS },
  });
  const leftOver = await watchLeftOverRuns(capacity);
  const workers = [shared, own, handedBack, ...(await createRequirementWorkers(common, options.taskQueue, capacity))];
  const loops = [
    contact,
    watchServerAnswers(contact),
    orphans,
    leftOver,
    { stop: () => void quotaAgent.close() },
    { stop: () => keepers.close() },
  ];
  loops.push(metrics.watchWastedGrants(() => quotaAgent.wasted()));
  loops.push(
    { stop: () => lostRuns.flush() },
    { stop: () => lostWhileHeldRuns.flush() },
    { stop: () => letGoRuns.flush() },
  );
  loops.push({ stop: () => adoptedRuns.flush() }); // adoptions not said yet, before the runs the stop let go of
  // Stopped once every activity has let go of its run (or stopped it): the one line about them
  loops.push({ stop: () => sayIfAny(log, shutdownRuns.line()) });
  const found = foundRunsLines(await runsFoundHere(runsDirs)); // before the first poll: nothing is held yet
  const others = await otherLiveWorkers(runsRoot, countedRunsDir);
  if (others.length) found.push(sharedMachineLine(others, options.slots, runsDir, servedDirs));
  loops.push(await recordWorker(runsRoot, countedRunsDir, options.slots, servedDirs));
  loops.push(
    watchMachineWorkers(runsRoot, countedRunsDir, others, (now) =>
      log(now.length ? sharedMachineLine(now, options.slots, runsDir, servedDirs) : aloneAgainLine(runsDir)),
    ),
  );
  made.worker = new StagedWorker(workers, loops, machineQueue, runsDir, found, heldBack);
  return made.worker;
}

function sayIfAny(log: (line: string) => void, line: string | undefined): void {
  if (line !== undefined) log(line);
}

/** As the served-directory check sees a root: symlinks resolved (a root that does not exist serves nothing). */
function realPathOrSame(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

const RECONNECT_EVERY_MS = 5_000;

/** A worker started before its server (a reboot, a deploy) waits for it instead of exiting. */
async function connectWhenServerAnswers(address: string, options: NativeConnectionOptions): Promise<NativeConnection> {
  for (let waiting = false; ; waiting = true) {
    try {
      return await NativeConnection.connect(options);
    } catch (err) {
      if (!waiting) {
        const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
        console.error(
          `staged worker: no Temporal server answers at ${address} yet (${why}); ` +
            `retrying every ${RECONNECT_EVERY_MS / 1000}s`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_EVERY_MS));
    }
  }
}

/** A served directory that does not exist is a typo: its runs would wait for ever for a worker that serves them. */
async function refuseMissingDirs(dirs: string[]): Promise<void> {
  for (const dir of dirs) {
    const isDir = await stat(dir).then(
      (info) => info.isDirectory(),
      () => false,
    );
    if (!isDir) throw new BadInputError(`--allow-dir ${dir} is not a directory`);
  }
}

function describeKillMode(mode: KillMode): string {
  return mode === 'cgroup' ? 'cgroup per run' : 'process scan by run marker (no writable cgroup v2 here)';
}

async function main(argv: string[]): Promise<void> {
  const command = buildCommand('worker').exitOverride().parse(argv);
  const flags = optionsOf('worker', command);
  installRuntime(workerLogLevelSetting() as LogLevel, flags.metrics);
  const stopSignals = waitOutRepeatedStopSignals(SHUTDOWN_FORCE_MS);
  stopWithParentCommand();
  const config = loadConnectionConfig();
  // Under `npm run worker` npm runs this in staged's folder: paths are the user's, as for every command.
  const userDir = userDirectory();
  const servedDirs = (flags.allowDir ?? [userDir]).map((dir) => path.resolve(userDir, dir));
  await refuseMissingDirs(servedDirs);
  const resources = flags.resources && (await withGpusFound(flags.resources)); // gpu=auto: before waiting for a server
  const connection = await connectWhenServerAnswers(config.address, config.options);
  try {
    const worker = await createStagedWorker({
      connection,
      namespace: config.namespace,
      address: config.address,
      taskQueue: flags.taskQueue,
      slots: flags.slots,
      logLimitBytes: flags.logLimit * 1024 * 1024,
      adoptWindowMs: flags.adoptWindow,
      onShutdown: flags.onShutdown,
      machineId: flags.machineId,
      runsRoot: path.resolve(userDir, flags.runsDir),
      allowedRoots: servedDirs,
      resources,
    });
    stopSignals.workerCreated();
    console.log(
      `staged worker: ${config.address} namespace=${config.namespace} queue=${flags.taskQueue} slots=${flags.slots} ` +
        `machine=${worker.machineQueue} ` +
        `resources=${resources ? formatMachineResources(resources) : 'none'} ` +
        (resources?.units ? `(units: ${formatUnits(resources.units)}) ` : '') +
        `adopt-window=${flags.adoptWindow / 1000}s on-shutdown=${flags.onShutdown} ` +
        `serves ${servedDirs.join(', ')}; runs in ${worker.runsDir}; ` +
        `stops runs by: ${describeKillMode(await killModeOfMachine())}` +
        (flags.metrics ? `; metrics http://${flags.metrics}/metrics` : ''),
    );
    for (const line of worker.foundAtStart) console.log(`staged worker: ${line}`);
    if (flags.adoptWindow < MIN_USEFUL_ADOPT_WINDOW_MS) {
      console.log(
        `staged worker: [WARN] --adopt-window ${flags.adoptWindow / 1000}s ` +
          `is shorter than ${MIN_USEFUL_ADOPT_WINDOW_MS / 1000}s: ` +
          'a run whose batch has a longer --heartbeat-timeout (default 30s) ' +
          'is stopped before a restarted worker can adopt it',
      );
    }
    await worker.run();
    // Exit 1: a supervisor (systemd Restart=on-failure) starts it again, bound to the server that answers now.
    if (worker.stoppedBecause) throw new Error('stopped: another server answers at its address (above)');
  } finally {
    // Not over the error that ended it: a Worker made before a failure still holds the connection.
    await connection.close().catch(() => undefined);
  }
}

/** Exit 2 for what the user must fix (an option, a namespace that does not exist), else 1. */
function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof BadInputError) return EXIT.usage;
  const message = oneLine(err);
  return /namespace/i.test(message) && /not found|does not exist/i.test(message) ? EXIT.usage : EXIT.failed;
}

/** Runs the worker as a program: exit codes as `exitCodeOf` says. */
export function runAsProgram(argv: string[]): void {
  dropWorkerOnlyEnvironment();
  main(argv).catch((err: unknown) => {
    // commander has printed its own message already
    if (!(err instanceof CommanderError))
      console.error(`staged worker: ${err instanceof BadInputError ? err.message : oneLine(err)}`);
    process.exit(exitCodeOf(err));
  });
}
