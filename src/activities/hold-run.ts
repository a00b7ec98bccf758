/**
 * Holds a run while its keeper runs it: renews its lease, heartbeats its progress, announces its
 * start to the experiment workflow, and returns how it ended. On cancellation it stops the run;
 * when the worker shuts down or the server gives up on this activity, it lets go of the run and
 * leaves it to be adopted.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import {
  RunFiles,
  runQuotaOf,
  type RunExit,
  type RunProgress,
  type RunQuota,
  type RunStarted,
} from '../keeper/run-files.js';
import type { QuotaAgent } from '../quota/agent.js';
import type { WorkerMetrics } from '../machine/metrics.js';
import { RunLostError } from '../errors.js';
import { STOP_MARGIN_MS, type RunHeartbeatDetails, type RunLocation, type RunStopHeartbeat } from '../model/types.js';
import { unitsInSpec } from '../machine/units.js';
import { runStartedSignal } from '../protocol/messages.js';
import { keeperAlive } from '../machine/keeper-launch.js';
import type { ServerContact } from '../machine/server-contact.js';
import {
  killKeeper,
  markLeftForAdoption,
  recordKilledKeeperEnd,
  requestStop,
  sayKeeperKilled,
  stopAskedBefore,
  type StopReason,
} from '../machine/stop-run.js';
import { watchRunDir, type RunDirWatch } from '../machine/run-dir-watch.js';
import { RunNotStoppableError, stopLeftRun } from '../machine/stop-left-run.js';
import { recordHolder } from '../machine/run-holder.js';
import type { HeldRuns } from '../machine/held-runs.js';

/** Why the server cancelled a run's activity: it gave up on it (timed out, not found), or it was paused or reset. */
export type LetGoCause = 'gave-up' | 'paused' | 'reset';

/** Where a run that cannot be stopped stands: held on by this worker, left by its stop, or its experiment cancelled. */
export type NotStoppableWhen = 'held' | 'left' | 'cancelled';

/** What a worker does with its runs when it is stopped gracefully (SIGTERM, Ctrl-C). */
export type ShutdownMode = 'leave' | 'stop';

const POLL_MS = 1_000;
const STARTING_POLL_MS = 50;
/**
 * A run is announced (running, its attempt) once it has run this long: one that ends sooner reports
 * everything with its end, which spares the server two signals and three workflow tasks per short run.
 */
const ANNOUNCE_AFTER_MS = 1_000;
/**
 * A run this activity launched needs no heartbeat this soon: the start's own heartbeat (run-experiment.ts) just told
 * the server where it lives, and one that ends sooner reports everything with its end. Well under the 2-s minimum
 * heartbeat timeout, with the loop's 1-s pace.
 */
const START_HEARTBEAT_COVERS_MS = 500;
/** A keeper writes its state within milliseconds of starting; one that has not after this is gone. */
const KEEPER_START_MS = 10_000;
/** How often the stop of a run whose dead keeper left what cannot be found (no readable spec) is tried again. */
const NOT_STOPPABLE_RETRY_MS = 30_000;

interface HoldOptions {
  contact: ServerContact;
  killGraceMs: number;
  onShutdown: ShutdownMode;
  /** The keeper this activity just started; absent when adopting. */
  launchedPid?: number;
  /** Tell the experiment workflow when the process has started (not when adopting: it knows). */
  announceStart: boolean;
  /** Runs some activity of this worker holds, by key: not orphans. */
  held: HeldRuns;
  quotaAgent: QuotaAgent;
  metrics: WorkerMetrics;
  /** Told of each run the worker's shutdown leaves for adoption or stops, for its line about them (worker/). */
  onShutdownDone?: (runKey: string, how: ShutdownMode) => void;
  /** Told of each run stopped because its experiment workflow closed without it (`terminated`, say). */
  onWorkflowClosed?: (runKey: string, how: string) => void;
  /** Told of each run let go of because the server cancelled its activity (gave up on it; paused or reset it). */
  onLetGo?: (runKey: string, why: LetGoCause) => void;
  /** Told of each run held whose spec.json is missing or unreadable, with why. */
  onSpecUnreadable?: (runKey: string, why: string) => void;
  /** Told once of each run held on because what its dead keeper left cannot be found to stop it. */
  onNotStoppable?: (runKey: string, error: RunNotStoppableError, when: NotStoppableWhen) => void;
}

export interface RunEnding {
  exit: RunExit;
  /** A refused call ended the run (QuotaAgent.takeRateLimited), with the Retry-After the API gave. */
  rateLimited?: { retryAfterMs?: number };
  /** When the process started, when known. */
  startedAt?: number;
  /** Calls granted to the run while this worker held it, by quota it may draw from; absent when it uses none. */
  calls?: Record<string, number>;
}

export async function holdRun(
  context: Context,
  files: RunFiles,
  location: RunLocation,
  options: HoldOptions,
): Promise<RunEnding> {
  options.held.add(location.runKey);
  await recordHolder(files); // a worker starting beside it tells it from a run left by an earlier worker
  // An adopted run keeps asking for quota calls with the secret it was started with.
  const spec = await files.readSpec();
  const specProblem = spec ? undefined : await files.specProblem();
  const quota = runQuotaOf(spec);
  if (quota) await options.quotaAgent.register(quota);
  const countCalls = options.metrics.quotaCallsWatcher();
  const runDir = watchRunDir(files.dir);
  try {
    const ending = await holdUntilEnd(context, files, location, options, quota?.token, countCalls, runDir, specProblem);
    const rateLimited = quota && options.quotaAgent.takeRateLimited(quota.token, ending.exit.endedAt);
    const calls = quota && callsOfRun(options.quotaAgent, quota);
    return { ...ending, ...(rateLimited ? { rateLimited } : {}), ...(calls ? { calls } : {}) };
  } finally {
    runDir.close();
    options.held.delete(location.runKey);
    if (quota) {
      countCalls(options.quotaAgent.callsOf(quota.token)); // the calls granted since the last heartbeat
      options.quotaAgent.unregister(quota.token);
    }
  }
}

/** Each quota the run may draw from with its granted calls, 0 included: a measured 0 is an estimate too. */
function callsOfRun(agent: QuotaAgent, quota: RunQuota): Record<string, number> | undefined {
  const names = quota.quotas;
  if (!names.length) return undefined;
  const granted = agent.callsOf(quota.token) ?? {};
  return Object.fromEntries(names.map((name) => [name, granted[name] ?? 0]));
}

async function holdUntilEnd(
  context: Context,
  files: RunFiles,
  location: RunLocation,
  options: HoldOptions,
  quotaToken: string | undefined,
  countCalls: (calls: Record<string, number> | undefined) => void,
  runDir: RunDirWatch,
  /** Why its spec.json cannot be read, said once its keeper is seen alive (a dead one's run is said otherwise). */
  specProblem: string | undefined,
): Promise<RunEnding> {
  const units = await unitsInSpec(files); // status shows them (batch-client/progress.ts reads heartbeats)
  const details: RunHeartbeatDetails = {
    ...location,
    host: hostname(),
    startedAt: Date.now(),
    ...(units && { units }),
  };
  const heldSince = Date.now();
  const heartbeatsFrom = options.announceStart ? heldSince + START_HEARTBEAT_COVERS_MS : heldSince;
  let started: RunStarted | undefined;
  let announced = !options.announceStart;
  let progressText = '';
  let notStoppableAt: number | undefined; // when a stop last found that what the dead keeper left cannot be found

  for (;;) {
    started ??= await files.readJson<RunStarted>(files.state);
    const exit = await files.readJson<RunExit>(files.exit);
    if (exit) return { exit, startedAt: started?.startedAt };
    if (started) {
      details.startedAt = started.startedAt;
      if (!announced && Date.now() - started.startedAt >= ANNOUNCE_AFTER_MS) {
        announced = true;
        await announceStart(context, location, started.startedAt);
      }
    }
    const keeperPid = started?.keeperPid ?? options.launchedPid;
    const keeperGone =
      keeperPid === undefined ? Date.now() - heldSince > KEEPER_START_MS : !keeperAlive(keeperPid, files);
    if (specProblem && started && !keeperGone) {
      options.onSpecUnreadable?.(location.runKey, specProblem);
      specProblem = undefined;
    }
    // A stop asked by a worker that died before it was done, which the keeper never carried out (hung, stopped).
    if (keeperPid !== undefined && !keeperGone && (await stopAskedBefore(files, options.killGraceMs + STOP_MARGIN_MS)))
      killKeeper(keeperPid);
    if (keeperGone && (notStoppableAt === undefined || Date.now() - notStoppableAt >= NOT_STOPPABLE_RETRY_MS)) {
      // Stopped and recorded here unless its guard does it (the loop then reads the end it records) or it is gone.
      // What cannot be found may still run: held on, never given up to a second copy, until it can be stopped or
      // its directory is removed (by hand, once its processes are stopped: the lease renewal below then says so).
      const last =
        (await files.readJson<RunExit>(files.exit)) ??
        (await stopLeftRun(files, started?.killMode).catch((err: unknown) => {
          if (!(err instanceof RunNotStoppableError)) throw err;
          if (notStoppableAt === undefined) options.onNotStoppable?.(location.runKey, err, 'held');
          notStoppableAt = Date.now();
          return undefined;
        }));
      if (last) return { exit: last, startedAt: started?.startedAt };
    }

    if (
      !(await files.renewLease(options.contact.lastContactAt()).then(
        () => true,
        () => false,
      ))
    ) {
      throw new RunLostError(`the directory of run ${location.run} (${files.dir}) is gone; the run will start again`, {
        stopped: true,
        started: true,
      });
    }
    const text = await readFile(files.progress, 'utf8').catch(() => '');
    if (text && text !== progressText) {
      progressText = text;
      Object.assign(details, progressIn(text));
    }
    const calls = quotaToken === undefined ? undefined : options.quotaAgent.callsOf(quotaToken);
    if (calls) details.calls = calls;
    countCalls(calls);
    if (Date.now() >= heartbeatsFrom) context.heartbeat(details);

    // Woken at once by the keeper's start and end records; polling is the fallback and paces the heartbeats.
    await runDir.wait(started ? POLL_MS : STARTING_POLL_MS, context.cancellationSignal);
    if (context.cancellationSignal.aborted) return letGo(context, files, location, keeperPid, options, details);
  }
}

async function announceStart(context: Context, location: RunLocation, startedAt: number): Promise<void> {
  const workflow = context.client.workflow.getHandle(context.info.workflowExecution!.workflowId);
  await workflow.signal(runStartedSignal, { run: location.run, startedAt, location }).catch((err) => {
    context.log.warn('could not announce the start of a run', { error: (err as Error).message });
  });
}

async function letGo(
  context: Context,
  files: RunFiles,
  location: RunLocation,
  keeperPid: number | undefined,
  options: HoldOptions,
  details: RunHeartbeatDetails,
): Promise<never> {
  const why = context.cancellationDetails;
  /** Whether the run is stopped; false when what its dead keeper left cannot be found (said once, as the loop does). */
  const stopRun = (reason: StopReason) =>
    stopHeldRun(context, files, keeperPid, reason, options.killGraceMs, details).then(
      () => true,
      (err: unknown) => {
        if (!(err instanceof RunNotStoppableError)) throw err;
        options.onNotStoppable?.(location.runKey, err, reason === 'cancelled' ? 'cancelled' : 'left');
        return false;
      },
    );
  if (why?.cancelRequested) {
    await stopRun('cancelled'); // one it cannot stop is said above: the user asked for the experiment's end
    throw new CancelledFailure('cancelled');
  }
  // One it cannot stop is left as below: its adopter holds it on, and nothing starts it again while it may live.
  if (why?.workerShutdown && options.onShutdown === 'stop' && (await stopRun('shutdown'))) {
    options.onShutdownDone?.(location.runKey, 'stop');
    throw new RunLostError(`run ${location.run} stopped with its worker; it will run again`, {
      stopped: true,
      started: true,
    });
  }
  const closed = why?.notFound ? await closedWorkflowStatus(context) : undefined;
  if (closed) {
    // Nobody will adopt it: its experiment ended without it (terminated by hand, say). Not on a "not found" alone.
    await stopRun('cancelled');
    options.onWorkflowClosed?.(location.runKey, closed);
    throw new CancelledFailure(`its experiment workflow is ${closed}`);
  }
  // Worker shutting down (leave), or the server gave up on this activity: the run stays for its adopter.
  await markLeftForAdoption(files);
  if (why?.workerShutdown) options.onShutdownDone?.(location.runKey, 'leave');
  else options.onLetGo?.(location.runKey, why?.paused ? 'paused' : why?.reset ? 'reset' : 'gave-up');
  throw new RunLostError(`let go of run ${location.run} on ${location.machineId}; it waits there to be adopted`, {
    location,
    stopped: false,
    started: true,
  });
}

/** How the activity's workflow closed (`terminated`, `timed out`…); undefined while it runs or nobody can say. */
async function closedWorkflowStatus(context: Context): Promise<string | undefined> {
  const workflowId = context.info.workflowExecution!.workflowId;
  const status = await context.client.workflow
    .getHandle(workflowId)
    .describe()
    .then(
      (description) => description.status.name,
      () => undefined,
    );
  return status === undefined || status === 'RUNNING' ? undefined : status.toLowerCase().replace('_', ' ');
}

/**
 * Asks the keeper to stop the run and waits for its end record; a keeper that has not recorded it within the kill grace
 * and STOP_MARGIN_MS is killed, and its guard stops the run. Heartbeats go on meanwhile, saying so: `status` tells a
 * keeper that has not answered from a silent worker, and the server does not time the activity out while it waits.
 */
async function stopHeldRun(
  context: Context,
  files: RunFiles,
  keeperPid: number | undefined,
  reason: StopReason,
  graceMs: number,
  details: RunHeartbeatDetails,
): Promise<void> {
  // A keeper long dead (a run held on) is not signalled: its pid may be another process's by now.
  const liveKeeper = keeperPid !== undefined && keeperAlive(keeperPid, files) ? keeperPid : undefined;
  await requestStop(files, liveKeeper, reason);
  const stop: RunStopHeartbeat = { reason, askedAt: Date.now(), killGraceMs: graceMs };
  const deadline = stop.askedAt + graceMs + STOP_MARGIN_MS;
  if (liveKeeper !== undefined && (await endRecordedBy(deadline, context, files, { ...details, stop }, liveKeeper)))
    return;
  // A keeper that did not answer is killed: its guard, or the stop below, stops what it leaves and records it.
  const killed = liveKeeper !== undefined && keeperAlive(liveKeeper, files);
  if (killed) {
    await sayKeeperKilled(files, reason, Date.now() - stop.askedAt);
    killKeeper(liveKeeper);
    stop.keeperKilledAt = Date.now();
    await endRecordedBy(Date.now() + graceMs + STOP_MARGIN_MS, context, files, { ...details, stop });
  }
  const started = await files.readJson<RunStarted>(files.state);
  await stopLeftRun(files, started?.killMode).catch((err: Error) => {
    if (err instanceof RunNotStoppableError) throw err; // its caller must not take it for stopped
    context.log.error(err.message);
  });
  // Its directory may be gone by now (removed by an orphan check once its end was recorded): nothing to retell.
  if (killed) await recordKilledKeeperEnd(files, reason, stop.keeperKilledAt! - stop.askedAt).catch(() => undefined);
}

/** Whether the run's end is recorded by `deadline`, heartbeating the stop; false at once when `keeperPid` is gone. */
async function endRecordedBy(
  deadline: number,
  context: Context,
  files: RunFiles,
  details: RunHeartbeatDetails,
  keeperPid?: number,
): Promise<boolean> {
  let heartbeatAt = 0;
  while (Date.now() < deadline) {
    if (await files.readJson<RunExit>(files.exit)) return true;
    if (keeperPid !== undefined && !keeperAlive(keeperPid, files)) return false;
    if (Date.now() - heartbeatAt >= POLL_MS) {
      heartbeatAt = Date.now();
      context.heartbeat(details);
    }
    await delay(100);
  }
  return false;
}

/** The progress a keeper recorded; nothing from a file that is not whole (written by a keeper of an older staged). */
function progressIn(text: string): Partial<RunProgress> {
  try {
    const { progress, progressAt, firstProgress, frozenMs } = JSON.parse(text) as RunProgress;
    return {
      progress,
      progressAt,
      ...(firstProgress ? { firstProgress } : {}),
      ...(typeof frozenMs === 'number' ? { frozenMs } : {}),
    };
  } catch {
    return {};
  }
}
