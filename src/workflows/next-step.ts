/**
 * What an experiment does once an attempt ends (a start, or an adoption, of a run): the decisions of
 * the experiment workflow's loop, as a pure function of what ended, how, and the loop's counters. The
 * workflow (experiment.ts) reads the activity's result or failure into an `AttemptEnd` and carries out
 * the `Step` returned: the timers, reports and next attempt. Deterministic; no Temporal here.
 */
import {
  DEFAULT_ADOPT_WINDOW_MS,
  REQUEUE_EXIT_CODE,
  type BatchSettings,
  type EndReason,
  type ExperimentRecord,
  type RunFailureDetails,
  type RunHeartbeatDetails,
  type RunLocation,
  type RunLostDetails,
  type RunOutcome,
} from '../model/types.js';
import { addCalls } from '../model/calls.js';
import { noSpinDelayMs, retryDelayMs } from './retry-timing.js';
import { NEW_WATCHDOG, clearWatchdog, isOverdue, watchFailure, type RunWatchdog } from './run-watchdog.js';

/** Margin over a machine's adoption window before its run counts as surely stopped. */
const ADOPT_MARGIN_MS = 5_000;
/** A script failing after every 429 fails for itself too: past this many quota re-runs, failures use retries. */
const MAX_QUOTA_RERUNS = 20;
/** A quota re-run waits at least this long; its calls wait for the quota's pause anyway. */
const QUOTA_RERUN_DELAY_MS = 5_000;

/** How an attempt's activity ended, as the workflow reads its result or failure. */
export type AttemptEnd =
  | { kind: 'completed'; outcome: RunOutcome }
  /** The activity timed out: never picked up (`scheduleToStart`), or its heartbeats stopped. */
  | { kind: 'activity-timeout'; scheduleToStart: boolean; heartbeat?: RunHeartbeatDetails; message: string }
  /** The worker let go of the run (`RunLost`). */
  | { kind: 'run-lost'; details?: RunLostDetails; message: string }
  /** The process ran and failed (`runnable`), or could never start (`ExperimentNotRunnable`). */
  | { kind: 'run-failed'; runnable: boolean; details: RunFailureDetails; message: string }
  /** Anything else: the activity failed without telling how. */
  | { kind: 'error'; message: string };

type LoopSettings = Pick<
  BatchSettings,
  'maxRetries' | 'retryDelayMs' | 'retryTimeouts' | 'killGraceMs' | 'maxRequeues'
>;

/** When and where the attempt ended. */
interface AttemptContext {
  /** The workflow's clock when the attempt began, and when it ended. */
  attemptAt: number;
  now: number;
  settings: LoopSettings;
  workflowId: string;
  /** False in experiments started before `patched('fruitless-starts-reset')`: see nextStep. */
  forgetsFruitlessStarts: boolean;
  /** True in experiments started since `patched('requeue')`: an exit REQUEUE_EXIT_CODE runs again, no retry used. */
  requeues?: boolean;
}

/** The loop's memory between attempts. */
export interface LoopState {
  /** The run number the next start gets. */
  nextRun: number;
  /** Set while the run lives on a machine: the next attempt adopts it there. */
  location?: RunLocation;
  /** Named by a worker that does not serve the run's directories: the own queue of one that does. */
  handedBackTo?: string;
  /** Runs that failed and counted against `maxRetries`. */
  failedRuns: number;
  quotaReruns: number;
  /** Starts in a row that went nowhere, and adoptions of one run in a row: their no-spin delays grow. */
  unstarted: number;
  readopts: number;
  adoptWindowMs: number;
  /** Absent in experiments started before the watchdog (their histories have no unheld memo). */
  watchdog?: RunWatchdog;
}

export function firstLoopState(withWatchdog: boolean): LoopState {
  return {
    nextRun: 1,
    failedRuns: 0,
    quotaReruns: 0,
    unstarted: 0,
    readopts: 0,
    adoptWindowMs: DEFAULT_ADOPT_WINDOW_MS,
    ...(withWatchdog ? { watchdog: NEW_WATCHDOG } : {}),
  };
}

/**
 * What the workflow does next. `afterMs`: a timer first. Steps that report after their timer build the
 * report then, from the record as it is at that time: `adoptingRecord`, `restartAfterWindow`, `requeued`.
 */
export type Step =
  /** The run exited 0: the experiment ends with `record`. */
  | { kind: 'complete'; record: ExperimentRecord; endedAt?: number }
  /** The run lives on a machine: adopt it there (`loop.location`); shown running if it is not yet. */
  | { kind: 'adopt'; location: RunLocation; afterMs?: number }
  /** Nothing of the run started: start it again, on `loop.handedBackTo` when a worker named one; no retry used. */
  | { kind: 'start-again'; afterMs?: number }
  /** The run started and is surely stopped: the next run starts; no retry used. */
  | { kind: 'rerun-lost'; report: ExperimentRecord }
  /** Nobody could hold the run for a whole window: keep away one more, then a fresh run (anywhere); no retry used. */
  | { kind: 'restart-unheld'; afterMs: number; run: number; error: string }
  /** The script checkpointed and asked to start again (exit REQUEUE_EXIT_CODE): the next run starts; no retry used. */
  | { kind: 'requeue'; report: ExperimentRecord }
  /** The API refused the run, not the script: report, wait for the quota, then queue it again; no retry used. */
  | { kind: 'quota-rerun'; report: ExperimentRecord; afterMs: number }
  /** The run failed: report, wait the retry delay (cut short by a lowered `maxRetries`), then queue it again. */
  | RetryStep
  /** The run failed for good: the experiment ends with `record`. */
  | { kind: 'give-up'; record: ExperimentRecord; endedAt?: number };

export interface RetryStep {
  kind: 'retry';
  report: ExperimentRecord;
  afterMs: number;
  /** When the failed run ended: the experiment's end if the retry is called off. */
  endedAt?: number;
}

interface Decision {
  loop: LoopState;
  /** Since when nobody holds the run: shown first (as a memo) when the loop has a watchdog. */
  unheldSince: number | undefined;
  step: Step;
}

/** The time after which a machine has surely stopped a run it could not hand to anyone. */
export function surelyStoppedAfterMs(adoptWindowMs: number, killGraceMs: number): number {
  return adoptWindowMs + killGraceMs + ADOPT_MARGIN_MS;
}

/**
 * Decides what follows an attempt that ended with `end`, while the experiment's record is `record`. With
 * `forgetsFruitlessStarts`, only starts in a row that went nowhere back off (any other step counts from 0
 * again), and the fresh run after the watchdog starts on the shared queue, not on a queue a start was handed
 * back to (no worker held the run there either).
 */
export function nextStep(loop: LoopState, record: ExperimentRecord, end: AttemptEnd, at: AttemptContext): Decision {
  const decision = decide(loop, record, end, at);
  if (!at.forgetsFruitlessStarts) return decision;
  return { ...decision, loop: forgetFruitlessStarts(decision.loop, decision.step) };
}

function forgetFruitlessStarts(loop: LoopState, step: Step): LoopState {
  if (step.kind === 'start-again') return loop;
  if (step.kind === 'restart-unheld') return { ...loop, unstarted: 0, handedBackTo: undefined };
  return { ...loop, unstarted: 0 };
}

function decide(loop: LoopState, record: ExperimentRecord, end: AttemptEnd, at: AttemptContext): Decision {
  if (end.kind === 'completed') {
    const { outcome } = end;
    const completed: ExperimentRecord = {
      ...record,
      status: 'completed',
      attempts: Math.max(record.attempts, outcome.run),
      exitCode: 0,
      reason: undefined,
      retryAt: undefined,
      startedAt: record.startedAt ?? outcome.startedAt,
      calls: addCalls(record.calls, outcome.calls),
    };
    return { loop, unheldSince: undefined, step: { kind: 'complete', record: completed, endedAt: outcome.endedAt } };
  }
  const failure = describeFailure(end, loop.location ?? loop.nextRun, at.workflowId);
  // A run shown running that is lost again and again: adoptions failing, or "never started" repeated.
  const lostRun =
    failure.kind === 'adopt'
      ? failure.location.run
      : failure.kind === 'lost' && !failure.started && record.status === 'running'
        ? failure.run
        : undefined;
  let unheldSince: number | undefined;
  if (loop.watchdog && lostRun !== undefined) {
    const adoptWindowMs = failure.kind === 'adopt' ? failure.location.adoptWindowMs : loop.adoptWindowMs;
    const windowMs = surelyStoppedAfterMs(adoptWindowMs, at.settings.killGraceMs);
    // An attempt longer than a window held the run for a while (a short one may have waited in a queue).
    const held = heldBy(end) || at.now - at.attemptAt > windowMs;
    const watchdog = watchFailure(loop.watchdog, lostRun, at.now, held);
    loop = { ...loop, adoptWindowMs, watchdog };
    unheldSince = watchdog.unheldSince;
    if (isOverdue(watchdog, at.now, windowMs)) {
      const lastFailure = failure.kind === 'adopt' ? end.message : failure.message;
      const error =
        `no worker could hold run ${lostRun} for ${Math.round(windowMs / 1000)}s ` +
        `(last failure: ${lastFailure}); it starts again, using no retry`;
      return {
        loop: { ...loop, location: undefined, watchdog: clearWatchdog(watchdog) },
        unheldSince,
        step: { kind: 'restart-unheld', afterMs: windowMs, run: lostRun, error },
      };
    }
  }
  if (failure.kind === 'adopt') {
    // The same run again after an unexpected failure: back off, a failing adoption must not spin.
    const again = loop.location?.runKey === failure.location.runKey;
    const step: Step = { kind: 'adopt', location: failure.location };
    if (again) step.afterMs = noSpinDelayMs(loop.readopts);
    return {
      loop: { ...loop, location: failure.location, readopts: again ? loop.readopts + 1 : 0 },
      unheldSince,
      step,
    };
  }
  const handedBackBefore = loop.handedBackTo;
  loop = { ...loop, location: undefined, handedBackTo: undefined };
  if (failure.kind === 'lost') {
    // Surely stopped, or never started: it runs again, and that costs no retry.
    if (!failure.started) {
      const step: Step = { kind: 'start-again' };
      loop = { ...loop, handedBackTo: failure.tryQueue };
      if (!failure.tryQueue || handedBackBefore) {
        // A second hand-back must not spin.
        step.afterMs = noSpinDelayMs(loop.unstarted);
        loop = { ...loop, unstarted: loop.unstarted + 1 };
      }
      return { loop, unheldSince, step };
    }
    return {
      loop: { ...loop, nextRun: failure.run + 1 },
      unheldSince,
      step: { kind: 'rerun-lost', report: lostRecord(record, failure.run, failure.message) },
    };
  }
  const ended: ExperimentRecord = {
    ...record,
    attempts: failure.kind === 'failed' ? Math.max(record.attempts, failure.run) : record.attempts,
    exitCode: failure.exitCode,
    reason: failure.reason,
    error: failure.message,
    startedAt: record.startedAt ?? (failure.kind === 'failed' ? failure.startedAt : undefined),
    calls: addCalls(record.calls, failure.calls),
  };
  if (failure.kind === 'failed' && failure.quotaLimited && loop.quotaReruns < MAX_QUOTA_RERUNS) {
    // The API refused it, not the script: it runs again once the quota allows, using no retry.
    const afterMs = Math.max(QUOTA_RERUN_DELAY_MS, failure.quotaLimited.retryAfterMs ?? 0);
    return {
      loop: { ...loop, quotaReruns: loop.quotaReruns + 1, nextRun: failure.run + 1 },
      unheldSince,
      step: { kind: 'quota-rerun', report: { ...ended, status: 'waiting-quota', retryAt: at.now + afterMs }, afterMs },
    };
  }
  if (failure.kind === 'failed' && at.requeues && asksRequeue(failure, record, at.settings)) {
    const requeues = (record.requeues ?? 0) + 1;
    return {
      loop: { ...loop, nextRun: failure.run + 1 },
      unheldSince,
      step: { kind: 'requeue', report: { ...ended, status: 'queued', requeues, retryAt: undefined } },
    };
  }
  const retryable = failure.kind === 'failed' && (failure.reason !== 'timeout' || at.settings.retryTimeouts);
  const failedRuns = loop.failedRuns + 1;
  if (!retryable || !retryAllowed(failedRuns, at.settings.maxRetries)) {
    return {
      loop: { ...loop, failedRuns },
      unheldSince,
      step: {
        kind: 'give-up',
        record: failedForGood(ended),
        endedAt: failure.kind === 'failed' ? failure.endedAt : undefined,
      },
    };
  }
  const afterMs = retryDelayMs(at.settings.retryDelayMs, failedRuns);
  const report: ExperimentRecord = { ...ended, status: 'retrying', retryAt: at.now + afterMs };
  return {
    loop: { ...loop, failedRuns, nextRun: failure.run + 1 },
    unheldSince,
    step: { kind: 'retry', report, afterMs, endedAt: failure.endedAt },
  };
}

/** Whether `maxRetries` allows a retry after the failed runs so far (the one that just failed included). */
export function retryAllowed(failedRuns: number, maxRetries: number): boolean {
  return failedRuns <= maxRetries;
}

/**
 * A `retry` step whose wait ended because `maxRetries` was lowered below the failed runs: the experiment ends
 * as after its last allowed failure, from the record as it is at that time.
 */
export function retryCalledOff(record: ExperimentRecord, step: RetryStep): Step {
  return { kind: 'give-up', record: failedForGood(record), endedAt: step.endedAt };
}

function failedForGood(ended: ExperimentRecord): ExperimentRecord {
  return { ...ended, status: 'failed', retryAt: undefined };
}

/**
 * A run that exited REQUEUE_EXIT_CODE by itself (not stopped by its --timeout) while requeues are left
 * (`maxRequeues`; none in batches submitted before it): past them, the exit is a failed attempt.
 */
function asksRequeue(
  failure: { reason: EndReason; exitCode: number | null },
  record: ExperimentRecord,
  settings: LoopSettings,
): boolean {
  if (failure.reason !== 'exit-code' || failure.exitCode !== REQUEUE_EXIT_CODE) return false;
  return (record.requeues ?? 0) < (settings.maxRequeues ?? 0);
}

/** After an `adopt` step's timer: the record to report, when the run is not shown running as that run yet. */
export function adoptingRecord(record: ExperimentRecord, run: number): ExperimentRecord | undefined {
  if (record.status === 'running' && record.attempts >= run) return undefined;
  return { ...record, status: 'running', attempts: Math.max(record.attempts, run) };
}

/** After a `restart-unheld` step's timer: the record to report, and the loop that starts the fresh run. */
export function restartAfterWindow(
  loop: LoopState,
  record: ExperimentRecord,
  step: { run: number; error: string },
): { loop: LoopState; report: ExperimentRecord } {
  const report = lostRecord(record, step.run, step.error);
  return { loop: { ...loop, nextRun: report.attempts + 1 }, report };
}

/** A run has started: shown running. The exit of a requeue before it is no error of this run, so it goes. */
export function runningRecord(record: ExperimentRecord, run: number, startedAt: number): ExperimentRecord {
  const running: ExperimentRecord = {
    ...record,
    status: 'running',
    attempts: run,
    startedAt: record.startedAt ?? startedAt,
    retryAt: undefined,
  };
  const afterRequeue = record.requeues && record.reason === 'exit-code' && record.exitCode === REQUEUE_EXIT_CODE;
  return afterRequeue ? { ...running, exitCode: null, reason: undefined, error: undefined } : running;
}

/** After a `retry` or `quota-rerun` step's timer: queued again. */
export function requeued(record: ExperimentRecord): ExperimentRecord {
  return { ...record, status: 'queued', retryAt: undefined };
}

function lostRecord(record: ExperimentRecord, run: number, error: string): ExperimentRecord {
  const lostRuns = (record.lostRuns ?? 0) + 1;
  return {
    ...record,
    status: 'queued',
    attempts: Math.max(record.attempts, run),
    reason: 'worker-lost',
    error,
    lostRuns,
  };
}

type Failure =
  | { kind: 'adopt'; location: RunLocation }
  | { kind: 'lost'; started: boolean; run: number; message: string; tryQueue?: string }
  | {
      kind: 'failed' | 'not-runnable';
      run: number;
      exitCode: number | null;
      reason: EndReason;
      message: string;
      startedAt?: number;
      endedAt?: number;
      quotaLimited?: { retryAfterMs?: number };
      calls?: Record<string, number>;
    };

/**
 * Reads a failed attempt. `current` is the run being adopted, or the number of the run being started.
 * A run with a known home is adopted there until that machine has surely stopped it.
 */
function describeFailure(
  end: Exclude<AttemptEnd, { kind: 'completed' }>,
  current: RunLocation | number,
  workflowId: string,
): Failure {
  const run = typeof current === 'number' ? current : current.run;
  const { message } = end;
  switch (end.kind) {
    case 'activity-timeout': {
      // A start handed back to a worker that no longer polls: nothing of it ever started.
      if (end.scheduleToStart && typeof current === 'number') return { kind: 'lost', started: false, run, message };
      // The adopting machine never came back within its window: its keeper has stopped the run.
      if (end.scheduleToStart)
        return { kind: 'lost', started: true, run, message: `${message} (no worker adopted run ${run})` };
      if (end.heartbeat?.runKey) return { kind: 'adopt', location: locationOf(end.heartbeat) };
      if (typeof current !== 'number') return { kind: 'adopt', location: current };
      // No heartbeat was ever acknowledged: the activity starts no process before one is.
      return { kind: 'lost', started: false, run, message };
    }
    case 'run-lost': {
      const { details } = end;
      if (details?.location && !details.stopped) return { kind: 'adopt', location: details.location };
      return { kind: 'lost', started: details?.started ?? true, run, message, tryQueue: details?.tryQueue };
    }
    case 'run-failed': {
      const { details } = end;
      return {
        kind: end.runnable ? 'failed' : 'not-runnable',
        run: details.run,
        exitCode: details.exitCode,
        reason: details.reason,
        message,
        startedAt: details.startedAt,
        endedAt: details.endedAt,
        quotaLimited: details.quotaLimited,
        calls: details.calls,
      };
    }
    case 'error':
      if (typeof current !== 'number') return { kind: 'adopt', location: current };
      return { kind: 'lost', started: false, run, message: `${message} (workflow ${workflowId})` };
  }
}

/** True when the failed attempt had held the run until it failed: it heartbeated, or let the run go. */
function heldBy(end: AttemptEnd): boolean {
  if (end.kind === 'activity-timeout') return Boolean(end.heartbeat?.runKey);
  if (end.kind === 'run-lost') return Boolean(end.details?.location && !end.details.stopped);
  return false;
}

function locationOf({ machineId, hostQueue, runKey, run, adoptWindowMs }: RunHeartbeatDetails): RunLocation {
  return { machineId, hostQueue, runKey, run, adoptWindowMs };
}
