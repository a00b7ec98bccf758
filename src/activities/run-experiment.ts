import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { isGrpcServiceError } from '@temporalio/client';
import {
  ApplicationFailure,
  ApplicationFailureCategory,
  CancelledFailure,
  defaultPayloadConverter,
} from '@temporalio/common';
import { RunFiles, runIdOf, runKeyOf, type RunExit, type RunSpec } from '../keeper/run-files.js';
import { attemptLogFile, experimentResultsDir } from '../paths.js';
import {
  FAILURE_TYPES,
  type EndReason,
  type RunFailureDetails,
  type RunHeartbeatDetails,
  type RunInput,
  type RunLocation,
  type RunLostDetails,
  type RunOutcome,
} from '../model/types.js';
import { NotRunnableError, RunLostError } from '../errors.js';
import { holdRun, type LetGoCause, type NotStoppableWhen, type ShutdownMode, type RunEnding } from './hold-run.js';
import { resolveCommand, type ExperimentCommand } from '../machine/command.js';
import { experimentEnvironment } from '../machine/child-env.js';
import type { KeeperLauncher } from '../machine/keeper-launch.js';
import { checkScript, checkServedDirectory, NotServedError } from '../machine/script-check.js';
import { queueOfServingWorker } from '../machine/served-elsewhere.js';
import { runFilesOf, type RunsLayout } from '../machine/runs-layout.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { ServerContact } from '../machine/server-contact.js';
import { writeBatchSummary } from './write-summary.js';
import { notify } from './notify.js';
import type { Delivery } from '../model/notifications.js';
import type { CleanExit } from '../model/freed-places.js';
import { closedWorkflows, requestQuotaSlot, type DeclaredSlotAsk, type SlotAsk } from './quota-slots.js';
import type { QuotaAgent } from '../quota/agent.js';
import { NoBudgetError, type BudgetClient } from '../quota/budget-client.js';
import type { WorkerMetrics } from '../machine/metrics.js';
import { quotaEnvironment } from '../quota/run-environment.js';
import { NoRoomError, type CapacityLedger } from '../machine/capacity.js';
import { freezeRun } from './freeze-run.js';
import { checkpointEnvironment } from './checkpoint-dir.js';
import { warningOf } from '../keeper/warn-signal.js';
import { codeEnvironment, checkedScriptsDir } from '../machine/code-dir.js';
import { sweepArgsOf } from '../machine/sweep-args.js';
import { paramsEnvironment } from '../experiments/sweep.js';
import { unitsInSpec } from '../machine/units.js';
import { unitsEnvironment } from '../model/units.js';
import { cleanExitSignal } from '../protocol/messages.js';
import { failureMessage } from './failure-text.js';
import { heldBeforeHere } from '../machine/run-holder.js';
import type { HeldRuns } from '../machine/held-runs.js';
import { adoptionFound, type AdoptionFound } from '../machine/machine-runs.js';
import type { RunNotStoppableError } from '../machine/stop-left-run.js';

export interface ActivityOptions {
  /** Bytes of output kept at the start of each log file; past it only the last lines are kept. */
  logLimitBytes: number;
  /** This machine, and the task queue only its workers poll (for adopting its runs). */
  machineId: string;
  machineQueue: string;
  /** Where this machine's runs of this task queue live (`layout.own`). */
  runsDir: string;
  /** This server's runs directory, and the one older versions used. */
  layout: RunsLayout;
  /** How long a run outlives the last worker that held it, waiting to be adopted. */
  adoptWindowMs: number;
  onShutdown: ShutdownMode;
  /** Told of each run a graceful stop of the worker left for adoption or stopped (the worker's line about them). */
  onShutdownDone?: (runKey: string, how: ShutdownMode) => void;
  /** Told of each run let go of because the server gave up on its activity, for the worker's line about them. */
  onLetGo?: (runKey: string, why: LetGoCause) => void;
  /** Told of each run stopped because its experiment workflow closed without it (`terminated`, say). */
  onWorkflowClosed?: (runKey: string, how: string) => void;
  /** Told of each run adopted here as it takes hold of it, with what it found (`letGoHere`: it held it before). */
  onAdopt?: (runKey: string, found: AdoptionFound, letGoHere: boolean) => void;
  /** Told of each run whose keeper died while this worker held it (recorded abandoned), for the worker's line. */
  onLostWhileHeld?: (runKey: string) => void;
  /** Told of each run held whose spec.json is missing or unreadable, with why (its line). */
  onSpecUnreadable?: (runKey: string, why: string) => void;
  /** Told once of each run held on because what its dead keeper left cannot be found to stop it (no readable spec). */
  onNotStoppable?: (runKey: string, error: RunNotStoppableError, when: NotStoppableWhen) => void;
  contact: ServerContact;
  /** Absolute directories whose scripts this worker runs (`--allow-dir`); nothing outside them. */
  allowedRoots: string[];
  /** Keys of the runs this worker's activities hold right now. */
  held: HeldRuns;
  /** Grants calls of quotas to this machine's runs. */
  quotaAgent: QuotaAgent;
  /** What each quota's budget declares (the hosts a run meters, a quota's `maxConcurrent`). */
  budgets: BudgetClient;
  metrics: WorkerMetrics;
  /** Counts what the machine's runs hold: a slot each (`--slots`), and its resources (`--resources`). */
  capacity: CapacityLedger;
  /** Starts each run's keeper, through the worker's launcher process (keeper-launch.ts). */
  keepers: KeeperLauncher;
  /**
   * False when another server now answers at this worker's address (its runs directory is not that server's):
   * it then starts or adopts nothing. Absent: not checked.
   */
  onOwnServer?: () => Promise<boolean>;
}

export function createActivities(options: ActivityOptions) {
  return {
    writeBatchSummary,
    requestQuotaSlot: (ask: SlotAsk | DeclaredSlotAsk) => requestQuotaSlot(ask, options.budgets),
    closedWorkflows,
    notify: (delivery: Delivery) => notify(delivery, options.allowedRoots),

    /** Freezes (`freeze: true`) or thaws a run of this machine; scheduled on the machine's own queue. */
    async freezeRun({ runKey, freeze }: { runKey: string; freeze: boolean }) {
      return freezeRun(await runFilesOf(options.layout, runKey), freeze);
    },

    /**
     * One run of an experiment's process, started here through a keeper that outlives this worker,
     * or adopted where it already lives (`input.adopt`). A process failure is non-retryable here:
     * the experiment workflow decides about retries. Losing the run (`RunLost`) costs no retry.
     */
    async runExperiment(input: RunInput): Promise<RunOutcome> {
      const context = Context.current();
      const workflowId = context.info.workflowExecution!.workflowId;
      const location: RunLocation = input.adopt ?? {
        machineId: options.machineId,
        hostQueue: options.machineQueue,
        runKey: runKeyOf(workflowId, input.run),
        run: input.run,
        adoptWindowMs: options.adoptWindowMs,
      };
      const files = await runFilesOf(options.layout, location.runKey);
      const logFile = attemptLogFile(input.settings.workDir, input.batchId, input.experiment.name, location.run);
      // launched: this activity started the keeper (its pid may be known only from its record: keeper-launch.ts)
      const hold = (launchedPid?: number, launched = launchedPid !== undefined) =>
        options.metrics.holding(input, () =>
          holdRun(context, files, location, {
            contact: options.contact,
            killGraceMs: input.settings.killGraceMs,
            onShutdown: options.onShutdown,
            launchedPid,
            announceStart: launched,
            held: options.held,
            quotaAgent: options.quotaAgent,
            metrics: options.metrics,
            onShutdownDone: options.onShutdownDone,
            onLetGo: options.onLetGo,
            onNotStoppable: options.onNotStoppable,
            onSpecUnreadable: options.onSpecUnreadable,
            onWorkflowClosed: options.onWorkflowClosed,
          }),
        );

      const heartbeats = new WaitingHeartbeats(context);
      let ending: RunEnding;
      let releaseCapacity = () => {};
      let slotFreeBeside: boolean;
      let claimed = false; // the claim takes the placeholder its task took, even when it then throws
      let foundLost = false; // an adoption that found its keeper dead: said lost once what it left is stopped
      try {
        // A run of another server kept in this one's directory would be out of sight of that server's workers:
        // one of them would find it gone and start it again while it runs here.
        if (options.onOwnServer && !(await options.onOwnServer())) {
          throw new RunLostError(`${input.experiment.name}: this worker's server is another one now: handed back`, {
            stopped: true,
            started: false,
          });
        }
        // Checked before resources are claimed: a worker that does not serve the run must not hold a GPU for it.
        const command = input.adopt ? undefined : await resolveScript(context, input, location.run, logFile, options);
        claimed = true;
        releaseCapacity = await claimCapacity(context, heartbeats, input, files, location.runKey, options.capacity);
        if (!command) {
          if (!(await files.exists())) {
            throw new RunLostError(`run ${location.run} is not on ${location.machineId} any more; it will run again`, {
              stopped: true,
              started: true,
            });
          }
          const found = await adoptionFound(files);
          const letGoHere = await heldBeforeHere(files);
          foundLost = found === 'lost';
          if (!foundLost) options.onAdopt?.(location.runKey, found, letGoHere);
          ending = await hold();
          if (foundLost && ending.exit.end === 'abandoned') options.onAdopt?.(location.runKey, found, letGoHere);
        } else {
          heartbeats.throwIfStopped(); // the server gave up on this start while it waited: a new one comes
          if (!(await files.claim())) {
            await options.capacity.keepUnitsOfSpec(location.runKey, await unitsInSpec(files));
            ending = await hold(); // started here before, by a worker lost before the server heard of it
          } else {
            const launchedPid = await start(context, input, command, location, files, logFile, options).catch(
              async (err) => {
                await rm(files.dir, { recursive: true, force: true });
                throw err;
              },
            );
            ending = await hold(launchedPid, true);
          }
        }
      } catch (err) {
        if (err instanceof RunLostError) throw runLost(err.message, err.details);
        throw err;
      } finally {
        slotFreeBeside = options.capacity.slotFreeFor(ROOM_PROVEN_MS); // while this run still holds its slot
        // A start that never reached its claim still took a placeholder when its task came (worker-queues.ts)
        releaseCapacity();
        if (!claimed && !input.adopt) options.capacity.unclaimed(context.info.taskQueue);
      }
      options.metrics.runEnded(input, ending.exit, ending.startedAt);
      if (ending.exit.end === 'abandoned' && !foundLost) options.onLostWhileHeld?.(location.runKey);
      // After its slot and resources went back to the ledger above: the next run may take them at once.
      if (ending.exit.end === 'exited' && ending.exit.exitCode === 0)
        await tellBatchPlaceFree(context, input, { run: location.run, slotFreeBeside });
      // The run's directory stays until its workflow has closed (orphans.ts): if this outcome is lost
      // on its way to the server, the next adoption reads it again instead of running the script twice.
      return outcomeOf(ending, input, location.run, logFile, context.cancellationDetails?.cancelRequested === true);
    },
  };
}

export type StagedActivities = ReturnType<typeof createActivities>;

/**
 * How long a slot must have been free beside a run that exits 0 for its batch to refill places at once: well over
 * the time the server takes to hand a waiting task to this worker's poll (a few ms here, tens on a loaded machine).
 */
const ROOM_PROVEN_MS = 250;

/** How long a clean exit's message to the batch may hold up the activity's result. */
const TELL_BATCH_MS = 10_000;

/**
 * The run's process exited 0, so the experiment is about to complete: its batch may start the next experiment while
 * the experiment workflow closes. Best effort: without it the place is freed when the experiment ends, as before.
 */
async function tellBatchPlaceFree(
  context: Context,
  input: RunInput,
  { run, slotFreeBeside }: { run: number; slotFreeBeside: boolean },
): Promise<void> {
  const { client } = context;
  const exit: CleanExit = { index: input.index, name: input.experiment.name, run };
  if (slotFreeBeside) exit.slotFreeBeside = true;
  await client
    .withDeadline(Date.now() + TELL_BATCH_MS, () =>
      client.workflow.getHandle(input.batchId).signal(cleanExitSignal, exit),
    )
    .catch((err: unknown) => {
      context.log.warn('could not tell the batch a place is free', { error: (err as Error).message });
    });
}

/**
 * The heartbeats of a start waiting its turn, each acknowledged before the next is sent. The SDK's own heartbeats
 * are throttled and may reach the server late: an empty one must never land after the heartbeat naming where the
 * run lives, or a machine lost at that moment would look as if it never started the run (and a second copy starts).
 */
class WaitingHeartbeats {
  private stopped: Error | undefined;

  constructor(private readonly context: Context) {}

  /**
   * Heartbeats every second until `waiting` settles; a start waiting longer than the heartbeat timeout is not lost.
   * A wait under a second sends none: the start's own heartbeat follows at once (`recordHeartbeatNow`).
   */
  async while<T>(waiting: Promise<T>): Promise<T> {
    let settled = false;
    const done = waiting.finally(() => (settled = true));
    const next = () => done.then(noop, noop);
    for (;;) {
      const pause = new AbortController();
      await Promise.race([next(), delay(1_000, undefined, { signal: pause.signal }).catch(noop)]);
      pause.abort();
      if (settled) return done;
      await this.beat();
    }
  }

  /** Nothing of the run may start once it was cancelled, or let go (the server timed this activity out). */
  throwIfStopped(): void {
    const { context } = this;
    if (context.cancellationDetails?.cancelRequested) throw new CancelledFailure('cancelled');
    if (context.cancellationSignal.aborted)
      throw new RunLostError('stopped before it started', { stopped: true, started: false });
    if (this.stopped) throw this.stopped;
  }

  private async beat(): Promise<void> {
    const { info, client } = this.context;
    try {
      const { cancelRequested } = await client.workflowService.recordActivityTaskHeartbeat({
        taskToken: info.taskToken,
        namespace: info.activityNamespace,
      });
      if (cancelRequested) this.stopped ??= new CancelledFailure('cancelled');
    } catch (err) {
      const code: number | undefined = isGrpcServiceError(err) ? err.code : undefined;
      if (code === GRPC_NOT_FOUND)
        this.stopped ??= new RunLostError('stopped before it started', { stopped: true, started: false });
      // any other failure: the next heartbeat tries again, as the SDK's would
    }
  }
}

const GRPC_NOT_FOUND = 5;
const noop = () => undefined;

/** A second of waiting for a slot or resources; ends the wait when the run is cancelled or let go. */
async function waitBeforeStart(context: Context, heartbeats: WaitingHeartbeats): Promise<void> {
  await delay(1_000, undefined, { signal: context.cancellationSignal }).catch(noop);
  heartbeats.throwIfStopped();
}

/** Holds a slot and what the run requires while it runs here; a machine that has too little hands the task back. */
async function claimCapacity(
  context: Context,
  heartbeats: WaitingHeartbeats,
  input: RunInput,
  files: RunFiles,
  runKey: string,
  ledger: CapacityLedger,
): Promise<() => void> {
  const requires = input.experiment.requires ?? {};
  if (input.adopt) return ledger.hold(runKey, requires, await unitsInSpec(files)); // the run already uses them here
  try {
    return await heartbeats.while(
      ledger.claim(runKey, context.info.taskQueue, requires, () => waitBeforeStart(context, heartbeats)),
    );
  } catch (err) {
    if (!(err instanceof NoRoomError)) throw err;
    throw new RunLostError(`${input.experiment.name} ${err.message}: handed back`, { stopped: true, started: false });
  }
}

/**
 * Checks the workflow input (untrusted) against the served roots, then decides how to run the script.
 * A directory this worker does not serve is handed back, naming a live worker that serves it.
 */
async function resolveScript(
  context: Context,
  input: RunInput,
  run: number,
  logFile: string,
  { allowedRoots, machineId }: ActivityOptions,
): Promise<ExperimentCommand> {
  const { settings, experiment, batchId } = input;
  try {
    await checkServedDirectory('work directory', settings.workDir, allowedRoots);
    const script = await checkScript({
      experimentsDir: await checkedScriptsDir(settings, allowedRoots),
      file: experiment.file,
      experimentName: experiment.name,
      batchId,
      allowedRoots,
    });
    const command = await resolveCommand(script, process.env, experiment.file.endsWith('.py'));
    return {
      ...command,
      args: [...command.args, ...(await sweepArgsOf(script, experiment.params, experiment.file.endsWith('.py')))],
    };
  } catch (err) {
    if (err instanceof NotServedError) {
      const tryQueue = await queueOfServingWorker(context, input, machineId);
      const where = tryQueue ? `; handed to ${tryQueue}` : ': handed back, no live worker serves it';
      throw new RunLostError(`${err.message}${where}`, { stopped: true, started: false, tryQueue });
    }
    if (err instanceof NotRunnableError) throw notRunnable(err.message, failureDetails(run, logFile, 'refused'));
    throw err;
  }
}

/** Tells the server where the run will live, then starts its keeper. */
async function start(
  context: Context,
  input: RunInput,
  command: ExperimentCommand,
  location: RunLocation,
  files: RunFiles,
  logFile: string,
  options: ActivityOptions,
): Promise<number | undefined> {
  const { settings, experiment, batchId } = input;
  // Before any process exists, the server must know where it will: a lost worker's run is then adopted, never doubled.
  const quotaHosts = await quotaHostsOf(input, options.budgets); // a quota without a budget: the run waits
  const askedAt = Date.now();
  await recordHeartbeatNow(context, { ...location, host: hostname(), startedAt: askedAt });
  // The lease is renewed as of the last contact: a probe still failing since a cut must not make it old at once.
  options.contact.heard(askedAt);
  const resultsDir = experimentResultsDir(settings.workDir, batchId, experiment.name);
  await mkdir(path.dirname(logFile), { recursive: true });
  await mkdir(resultsDir, { recursive: true });
  const checkpoint = await checkpointEnvironment(process.env, settings, batchId, experiment.name);
  await files.renewLease(Date.now());
  const socket = options.quotaAgent.runSocket(location.runKey);
  const quotas = Object.keys(quotaHosts);
  const quota = { token: randomBytes(24).toString('hex'), experiment: experiment.name, quotas, socket };
  const units = options.capacity.unitsOf(location.runKey);
  const spec: RunSpec = {
    runId: runIdOf(files.dir),
    file: command.file,
    args: command.args,
    cwd: settings.workDir,
    logFile,
    logLimitBytes: options.logLimitBytes,
    timeoutMs: settings.timeoutMs,
    killGraceMs: settings.killGraceMs,
    leaseTimeoutMs: options.adoptWindowMs,
    quota,
    ...(experiment.requires ? { requires: experiment.requires } : {}),
    ...warningOf(settings),
    ...(units ? { units } : {}),
  };
  await options.quotaAgent.register(quota); // its link points here before the script can ask
  const keeperPid = await options.keepers
    .launch(
      files,
      spec,
      experimentEnvironment(process.env, {
        STAGED_BATCH_ID: batchId,
        STAGED_EXPERIMENT: experiment.name,
        STAGED_ATTEMPT: String(location.run),
        STAGED_MACHINE_ID: options.machineId,
        STAGED_RESULTS_DIR: resultsDir,
        PYTHONUNBUFFERED: '1',
        ...checkpoint,
        ...quotaEnvironment(process.env, socket, quota.token, quotaHosts, experiment.metering),
        // The snapshot first on PYTHONPATH, then staged's helpers (python/), then the worker's own.
        ...codeEnvironment({ ...process.env, PYTHONPATH: checkpoint.PYTHONPATH }, settings),
        ...paramsEnvironment(experiment.params),
        ...unitsEnvironment(units, options.capacity.machine.units),
      }),
    )
    .catch((err: unknown) => {
      options.quotaAgent.unregister(quota.token); // no run will ask with it: its link must not be tended for ever
      throw err;
    });
  options.metrics.runStarted(input, Date.now() - context.info.currentAttemptScheduledTimestampMs);
  return keeperPid;
}

/**
 * The quotas the experiment draws from (its `Quota:` line), with the hosts their budgets meter. A batch submitted
 * before the budgets owned their quotas carries its declarations: they serve a budget no submit declared.
 */
async function quotaHostsOf({ experiment, settings }: RunInput, budgets: BudgetClient) {
  const hosts = await Promise.all(
    (experiment.quotas ?? []).map(async (name) => {
      const declared = await budgets.declared(name);
      if (declared?.hosts) return declared.hosts;
      const ofBatch = settings.quotas?.[name];
      if (!ofBatch) {
        if (!declared) throw new NoBudgetError(name);
        // started by hand (quota pause) after its budget was terminated: unmetered calls would overrun it
        throw new Error(`quota ${name}: no submit declared its hosts since its budget started; a submit using it does`);
      }
      if (!declared) await budgets.startForBatch(name, ofBatch);
      return ofBatch.hosts;
    }),
  );
  return Object.fromEntries((experiment.quotas ?? []).map((name, index) => [name, hosts[index]]));
}

/**
 * A heartbeat the server has acknowledged (the SDK's own heartbeats are sent in the background). A cancellation
 * it brings back stops the start: no process exists yet.
 */
async function recordHeartbeatNow(context: Context, details: RunHeartbeatDetails): Promise<void> {
  const { cancelRequested } = await context.client.workflowService.recordActivityTaskHeartbeat({
    taskToken: context.info.taskToken,
    namespace: context.info.activityNamespace,
    details: { payloads: [defaultPayloadConverter.toPayload(details)] },
  });
  if (cancelRequested) throw new CancelledFailure('cancelled');
}

/** EX_TEMPFAIL: a script's way to say "the API refused me, try later" (sysexits.h). */
const EXIT_TEMPFAIL = 75;

/** Exit 75 is a quota's refusal only from an experiment that draws from a quota; from any other, a plain failure. */
function refusedByItsQuota(input: RunInput, exitCode: number | null): boolean {
  return exitCode === EXIT_TEMPFAIL && Boolean(input.experiment.quotas?.length);
}

/**
 * Every end maps to an outcome that moves the experiment on (completed, failed, cancelled, or run again under a
 * new number): an end record read again by a later activity must never send the workflow back to the same run.
 */
function outcomeOf(
  ending: RunEnding,
  input: RunInput,
  run: number,
  logFile: string,
  cancelRequested: boolean,
): RunOutcome {
  const { exit, startedAt, calls } = ending;
  const { name } = input.experiment;
  const timeoutMs = input.settings.timeoutMs;
  switch (exit.end) {
    case 'spawn-failed':
      throw notRunnable(`${name}: cannot start: ${exit.error}`, failureDetails(run, logFile, 'exit-code'));
    case 'cancelled':
      if (cancelRequested) throw new CancelledFailure(`${name} cancelled`);
      // Stopped as cancelled while its experiment is not (a keeper of staged before 2026-12 sent SIGTERM): failed.
      return failedAttempt(ending, input, run, logFile, 'signal', stoppedWhy(exit));
    case 'terminated':
      return failedAttempt(ending, input, run, logFile, 'signal', stoppedWhy(exit));
    case 'shutdown':
    case 'abandoned':
      throw runLost(`${name} run ${run} was stopped (${exit.end}${survivorsText(exit)}); it will run again`, {
        stopped: true,
        started: true,
      });
    case 'exited':
      if (exit.exitCode === 0) return { run, startedAt, endedAt: exit.endedAt, ...(calls ? { calls } : {}) };
  }
  const reason: EndReason = exit.end === 'timeout' ? 'timeout' : exit.exitCode !== null ? 'exit-code' : 'signal';
  const why =
    reason === 'timeout'
      ? `timed out after ${(timeoutMs ?? 0) / 1000}s${survivorsText(exit)}`
      : reason === 'exit-code'
        ? `exited with code ${exit.exitCode}`
        : `was killed by ${exit.signal}`;
  return failedAttempt(ending, input, run, logFile, reason, why);
}

function stoppedWhy(exit: RunExit): string {
  const what = exit.error ?? 'its keeper was sent SIGTERM, and no worker asked for a stop';
  return `was stopped: ${what}${survivorsText(exit)}`;
}

/** What of the run outlived its stop (a process in uninterruptible sleep): said, never taken for stopped. */
function survivorsText({ survivors }: RunExit): string {
  if (!survivors?.length) return '';
  const pids = survivors.map(({ pid }) => pid).join(', ');
  const count = survivors.length === 1 ? '1 process' : `${survivors.length} processes`;
  return `; ${count} of it outlived its SIGKILL (pid ${pids})`;
}

function failedAttempt(
  { exit, startedAt, rateLimited, calls }: RunEnding,
  input: RunInput,
  run: number,
  logFile: string,
  reason: EndReason,
  why: string,
): never {
  const { name } = input.experiment;
  throw ApplicationFailure.create({
    type: FAILURE_TYPES.experimentFailed,
    category: ApplicationFailureCategory.BENIGN, // an outcome, not a fault of the worker: not logged as a warning
    nonRetryable: true,
    message: failureMessage(`${name} attempt ${run} ${why}`, logFile, exit.tail),
    details: [
      {
        ...failureDetails(run, logFile, reason),
        exitCode: exit.exitCode,
        signal: exit.signal,
        startedAt,
        endedAt: exit.endedAt,
        ...(rateLimited || refusedByItsQuota(input, exit.exitCode) ? { quotaLimited: rateLimited ?? {} } : {}),
        ...(calls ? { calls } : {}),
      },
    ],
  });
}

function failureDetails(run: number, logFile: string, reason: EndReason): RunFailureDetails {
  return { run, exitCode: null, signal: null, reason, logFile };
}

function notRunnable(message: string, details: RunFailureDetails): ApplicationFailure {
  return ApplicationFailure.create({
    type: FAILURE_TYPES.notRunnable,
    nonRetryable: true,
    message,
    details: [details],
  });
}

function runLost(message: string, details: RunLostDetails): ApplicationFailure {
  return ApplicationFailure.create({
    type: FAILURE_TYPES.runLost,
    category: ApplicationFailureCategory.BENIGN,
    nonRetryable: true,
    message,
    details: [details],
  });
}
