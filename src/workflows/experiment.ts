import {
  ActivityCancellationType,
  ActivityFailure,
  allHandlersFinished,
  condition,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import {
  FAILURE_TYPES,
  TEMPORAL_PRIORITY_KEY,
  type EndReason,
  type ExperimentInput,
  type ExperimentRecord,
  type RunFailureDetails,
  type RunHeartbeatDetails,
  type RunInput,
  type RunLocation,
  type RunLostDetails,
} from '../model/types.js';
import type { StagedActivities } from '../activities/index.js';
import { addCalls } from '../model/calls.js';
import {
  experimentReportSignal,
  quotaSlotGrantedSignal,
  reportEndBySignal,
  runStartedSignal,
} from '../protocol/messages.js';
import { budgetWorkflowId, slotReleaseSignal } from '../protocol/quota-budget.js';
import { QUOTA_SLOTS_PATCH, slotQuotasOf } from '../model/start-order.js';
import { noSpinDelayMs, retryDelayMs } from './retry-timing.js';
import { STATUS_SEARCH_ATTRIBUTE } from '../protocol/search-attributes.js';
import { runQueueOf } from '../model/requirements.js';
import { RunWatchdog } from './run-watchdog.js';
import { RUN_ADOPT_WINDOW_MEMO, RUN_UNHELD_SINCE_MEMO } from '../protocol/messages.js';

/** An activity must have a close timeout; the keeper enforces the run's own `--timeout`. */
const NO_ACTIVITY_LIMIT = '3650 days';
/** A live worker polls its own queue at all times: a run handed over to it is taken within this, or goes anywhere. */
const HANDED_OVER_PICKUP_MS = '1 minute';
/** Margin over a machine's adoption window before its run counts as surely stopped. */
const ADOPT_MARGIN_MS = 5_000;
/** Experiments started before the watchdog loop on a run nobody can hold (their histories have no memo). */
const RUN_WATCHDOG_PATCH = 'run-watchdog';
/** The adoption window when no failure has named one (a worker's default). */
const DEFAULT_ADOPT_WINDOW_MS = 5 * 60_000;

/**
 * Runs one experiment until it completes, fails for good, or is cancelled, and reports each change
 * to its batch: start and retries by signal, the end by its result (or by signal once the batch
 * continued as new). A run whose worker was lost is adopted on the machine where it still lives
 * (through that machine's own task queue), and started again elsewhere only once that machine has
 * surely stopped it; that costs no retry. A run whose process failed is retried by this workflow's
 * durable loop, at most `maxRetries` times (timeouts only with `retryTimeouts`).
 */
export async function experimentWorkflow(input: ExperimentInput): Promise<ExperimentRecord> {
  const { settings } = input;
  const batch = getExternalWorkflowHandle(input.batchId);
  const common: ActivityOptions = {
    startToCloseTimeout: NO_ACTIVITY_LIMIT,
    heartbeatTimeout: settings.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    priority: { priorityKey: TEMPORAL_PRIORITY_KEY[input.experiment.priority] },
    retry: { maximumAttempts: 1 }, // every loss is decided below: adopt where the run lives, or start again
  };
  // Not eager: a run taken by whichever child's task completes first would break the start order.
  const startAnywhere = proxyActivities<StagedActivities>({
    ...common,
    taskQueue: runQueueOf(settings.taskQueue, input.experiment.requires),
    allowEagerDispatch: false,
  }).runExperiment;
  // Named by a worker that does not serve the run's directories: the own queue of one that does.
  let servedOn: string | undefined;
  const startRun = (runInput: RunInput) =>
    servedOn
      ? proxyActivities<StagedActivities>({
          ...common,
          taskQueue: servedOn,
          scheduleToStartTimeout: HANDED_OVER_PICKUP_MS,
        }).runExperiment(runInput)
      : startAnywhere(runInput);
  const adoptRun = (location: RunLocation) =>
    proxyActivities<StagedActivities>({
      ...common,
      taskQueue: location.hostQueue,
      scheduleToStartTimeout: location.adoptWindowMs + settings.killGraceMs + ADOPT_MARGIN_MS,
    }).runExperiment({ ...input, run: location.run, adopt: location });

  let endBySignal = false;
  setHandler(reportEndBySignal, () => {
    endBySignal = true;
  });

  let record: ExperimentRecord = { status: 'queued', attempts: 0, exitCode: null };
  let statusShown = record.status;
  const show = (next: ExperimentRecord) => {
    if (settings.searchAttributes && next.status !== statusShown) {
      upsertSearchAttributes([{ key: STATUS_SEARCH_ATTRIBUTE, value: next.status }]);
      statusShown = next.status;
    }
    record = next;
  };
  const report = async (next: ExperimentRecord) => {
    show(next);
    try {
      await batch.signal(experimentReportSignal, { index: input.index, record });
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('could not report to the batch', {
        batchId: input.batchId,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  };
  setHandler(runStartedSignal, async ({ run, startedAt }) => {
    if (record.status !== 'queued' || run < record.attempts) return;
    // Also while being cancelled: the batch must learn the run started,
    // and a cancelled handler would cancel the workflow.
    await CancellationScope.nonCancellable(() =>
      report({
        ...record,
        status: 'running',
        attempts: run,
        startedAt: record.startedAt ?? startedAt,
        retryAt: undefined,
      }),
    );
  });

  // Experiments started before quota slots existed run on without them (their histories have no slot request).
  const slotQuotas = patched(QUOTA_SLOTS_PATCH) ? slotQuotasOf(input.experiment, settings) : [];
  const slotsGranted = new Set<string>();
  setHandler(quotaSlotGrantedSignal, ({ quota }) => {
    slotsGranted.add(quota);
  });

  let nextRun = 1;
  let location: RunLocation | undefined;
  let failedRuns = 0;
  let quotaReruns = 0;
  let unstarted = 0;
  let readopts = 0;
  let lastRunEndedAt: number | undefined;
  const watchdog = patched(RUN_WATCHDOG_PATCH) ? new RunWatchdog() : undefined;
  let adoptWindowMs = DEFAULT_ADOPT_WINDOW_MS;
  let unheldShown: number | undefined;
  const showUnheld = (since: number | undefined) => {
    if (since === unheldShown) return;
    unheldShown = since;
    upsertMemo({
      [RUN_UNHELD_SINCE_MEMO]: since,
      [RUN_ADOPT_WINDOW_MEMO]: since === undefined ? undefined : adoptWindowMs,
    });
  };
  try {
    if (slotQuotas.length) {
      show({ ...record, status: 'waiting-quota' }); // as the batch marked it when it started this experiment
      await takeQuotaSlots(input, slotQuotas, slotsGranted);
      await report({ ...record, status: 'queued' });
    }
    for (;;) {
      const attemptAt = Date.now();
      try {
        const outcome = location ? await adoptRun(location) : await startRun({ ...input, run: nextRun });
        if (watchdog) showUnheld(undefined);
        const attempts = Math.max(record.attempts, outcome.run);
        const startedAt = record.startedAt ?? outcome.startedAt;
        lastRunEndedAt = outcome.endedAt;
        record = {
          ...record,
          status: 'completed',
          attempts,
          exitCode: 0,
          reason: undefined,
          retryAt: undefined,
          startedAt,
          calls: addCalls(record.calls, outcome.calls),
        };
        break;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const failure = describeFailure(err, location ?? nextRun);
        // A run shown running that is lost again and again: adoptions failing, or "never started" repeated.
        const lostRun =
          failure.kind === 'adopt'
            ? failure.location.run
            : failure.kind === 'lost' && !failure.started && record.status === 'running'
              ? failure.run
              : undefined;
        if (watchdog && lostRun !== undefined) {
          if (failure.kind === 'adopt') adoptWindowMs = failure.location.adoptWindowMs;
          const windowMs = adoptWindowMs + settings.killGraceMs + ADOPT_MARGIN_MS;
          // An attempt longer than a window held the run for a while (a short one may have waited in a queue).
          const held = heldBy(err) || Date.now() - attemptAt > windowMs;
          showUnheld(watchdog.failed(lostRun, Date.now(), held));
          if (watchdog.overdue(Date.now(), windowMs)) {
            // Nobody could hold it for a whole window: keep away one more, so that its keeper surely stops it.
            await sleep(windowMs);
            watchdog.clear();
            showUnheld(undefined);
            location = undefined;
            nextRun = Math.max(lostRun, record.attempts) + 1;
            await report({
              ...record,
              status: 'queued',
              attempts: Math.max(record.attempts, lostRun),
              reason: 'worker-lost',
              error:
                `no worker could hold run ${lostRun} for ${Math.round(windowMs / 1000)}s ` +
                `(last failure: ${failure.kind === 'adopt' ? errorMessage(err) : failure.message}); ` +
                'it starts again, using no retry',
            });
            continue;
          }
        }
        if (watchdog && lostRun === undefined) showUnheld(undefined);
        if (failure.kind === 'adopt') {
          // The same run again after an unexpected failure: back off, a failing adoption must not spin.
          if (location?.runKey === failure.location.runKey) await sleep(noSpinDelayMs(readopts++));
          else readopts = 0;
          location = failure.location;
          if (record.status !== 'running' || record.attempts < location.run) {
            await report({ ...record, status: 'running', attempts: Math.max(record.attempts, location.run) });
          }
          continue;
        }
        location = undefined;
        const handedOver = servedOn;
        servedOn = undefined;
        if (failure.kind === 'lost') {
          // Surely stopped, or never started: it runs again, and that costs no retry.
          if (!failure.started) {
            servedOn = failure.tryQueue;
            if (!servedOn || handedOver) await sleep(noSpinDelayMs(unstarted++)); // a second hand-over must not spin
            continue;
          }
          nextRun = failure.run + 1;
          await report({
            ...record,
            status: 'queued',
            attempts: Math.max(record.attempts, failure.run),
            reason: 'worker-lost',
            error: failure.message,
          });
          continue;
        }
        const attempts = failure.kind === 'failed' ? Math.max(record.attempts, failure.run) : record.attempts;
        const startedAt = record.startedAt ?? (failure.kind === 'failed' ? failure.startedAt : undefined);
        const ended = {
          ...record,
          attempts,
          exitCode: failure.exitCode,
          reason: failure.reason,
          error: failure.message,
          startedAt,
          calls: addCalls(record.calls, failure.calls),
        };
        if (failure.kind === 'failed' && failure.quotaLimited && quotaReruns < MAX_QUOTA_RERUNS) {
          // The API refused it, not the script: it runs again once the quota allows, using no retry.
          quotaReruns++;
          nextRun = failure.run + 1;
          const delayMs = Math.max(QUOTA_RERUN_DELAY_MS, failure.quotaLimited.retryAfterMs ?? 0);
          await report({ ...ended, status: 'waiting-quota', retryAt: Date.now() + delayMs });
          await sleep(delayMs);
          await report({ ...record, status: 'queued', retryAt: undefined });
          continue;
        }
        const retryable = failure.kind === 'failed' && (failure.reason !== 'timeout' || settings.retryTimeouts);
        failedRuns++;
        if (!retryable || failedRuns > settings.maxRetries) {
          lastRunEndedAt = failure.kind === 'failed' ? failure.endedAt : undefined;
          record = { ...ended, status: 'failed', retryAt: undefined };
          break;
        }
        nextRun = failure.run + 1;
        const delayMs = retryDelayMs(settings.retryDelayMs, failedRuns);
        await report({ ...ended, status: 'retrying', retryAt: Date.now() + delayMs });
        await sleep(delayMs);
        await report({ ...record, status: 'queued', retryAt: undefined });
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    record = { ...record, status: 'cancelled', reason: 'cancelled', retryAt: undefined };
  }

  return CancellationScope.nonCancellable(async () => {
    await releaseQuotaSlots(settings.taskQueue, slotQuotas);
    await condition(allHandlersFinished); // a start report still on its way to the batch
    // The run's own end when known: a server outage between its end and now is not its duration.
    const final = { ...record, closedAt: lastRunEndedAt ?? Date.now() };
    if (endBySignal) await report(final);
    else show(final);
    return final;
  });
}

/** A budget that lost a request (terminated by hand, say) is asked again after this long. */
const SLOT_ASK_AGAIN_MS = 5 * 60_000;

/** Waits for a slot of each of the experiment's quotas that have a `maxConcurrent`, across all batches and machines. */
async function takeQuotaSlots(input: ExperimentInput, quotas: string[], granted: Set<string>): Promise<void> {
  const { requestQuotaSlot } = proxyActivities<StagedActivities>({
    taskQueue: input.settings.taskQueue,
    startToCloseTimeout: '1 minute',
    priority: { priorityKey: TEMPORAL_PRIORITY_KEY.critical },
    retry: { maximumInterval: '30 seconds' },
  });
  // One quota at a time, in name order: two experiments never each hold a slot the other waits for.
  for (const quota of [...quotas].sort()) {
    const declaration = input.settings.quotas![quota];
    const ask = {
      quota,
      declaration,
      maxConcurrent: declaration.maxConcurrent!,
      taskQueue: input.settings.taskQueue,
      priorityKey: TEMPORAL_PRIORITY_KEY[input.experiment.priority],
    };
    do await requestQuotaSlot(ask);
    while (!(await condition(() => granted.has(quota), SLOT_ASK_AGAIN_MS)));
  }
}

/** Gives the slots back (or withdraws the requests); a budget that is gone has nothing to release. */
async function releaseQuotaSlots(taskQueue: string, quotas: string[]): Promise<void> {
  const holder = workflowInfo().workflowId;
  await Promise.all(
    quotas.map((quota) =>
      getExternalWorkflowHandle(budgetWorkflowId(taskQueue, quota))
        .signal(slotReleaseSignal, { holder })
        .catch(() => undefined),
    ),
  );
}

/** A script failing after every 429 fails for itself too: past this many quota re-runs, failures use retries. */
const MAX_QUOTA_RERUNS = 20;
/** A quota re-run waits at least this long; its calls wait for the quota's pause anyway. */
const QUOTA_RERUN_DELAY_MS = 5_000;

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
 * Reads an activity failure. `current` is the run being adopted, or the number of the run being
 * started. A run with a known home is adopted there until that machine has surely stopped it.
 */
function describeFailure(err: unknown, current: RunLocation | number): Failure {
  const run = typeof current === 'number' ? current : current.run;
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (cause instanceof TimeoutFailure) {
    // A start handed over to a machine that no longer polls: nothing of it ever started.
    if (cause.timeoutType === TimeoutType.SCHEDULE_TO_START && typeof current === 'number')
      return { kind: 'lost', started: false, run, message };
    // The adopting machine never came back within its window: its keeper has stopped the run.
    if (cause.timeoutType === TimeoutType.SCHEDULE_TO_START)
      return { kind: 'lost', started: true, run, message: `${message} (no worker adopted run ${run})` };
    const home = cause.lastHeartbeatDetails as RunHeartbeatDetails | undefined;
    if (home?.runKey) return { kind: 'adopt', location: locationOf(home) };
    if (typeof current !== 'number') return { kind: 'adopt', location: current };
    // No heartbeat was ever acknowledged: the activity starts no process before one is.
    return { kind: 'lost', started: false, run, message };
  }
  if (cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.runLost) {
    const details = cause.details?.[0] as RunLostDetails | undefined;
    if (details?.location && !details.stopped) return { kind: 'adopt', location: details.location };
    return { kind: 'lost', started: details?.started ?? true, run, message, tryQueue: details?.tryQueue };
  }
  if (cause instanceof ApplicationFailure && cause.details?.length) {
    const details = cause.details[0] as RunFailureDetails;
    const kind = cause.type === FAILURE_TYPES.experimentFailed ? 'failed' : 'not-runnable';
    return {
      kind,
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
  if (typeof current !== 'number') return { kind: 'adopt', location: current };
  return { kind: 'lost', started: false, run, message: `${message} (workflow ${workflowInfo().workflowId})` };
}

/** True when the failed attempt had held the run until it failed: it heartbeated, or let the run go. */
function heldBy(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof TimeoutFailure) return Boolean((cause.lastHeartbeatDetails as RunHeartbeatDetails)?.runKey);
  if (cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.runLost) {
    const details = cause.details?.[0] as RunLostDetails | undefined;
    return Boolean(details?.location && !details.stopped);
  }
  return false;
}

function errorMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

function locationOf({ machineId, hostQueue, runKey, run, adoptWindowMs }: RunHeartbeatDetails): RunLocation {
  return { machineId, hostQueue, runKey, run, adoptWindowMs };
}
