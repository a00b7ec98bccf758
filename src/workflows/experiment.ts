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
  type ExperimentInput,
  type ExperimentRecord,
  type RunFailureDetails,
  type RunHeartbeatDetails,
  type RunInput,
  type RunLocation,
  type RunLostDetails,
} from '../model/types.js';
import type { StagedActivities } from '../activities/index.js';
import {
  experimentReportSignal,
  quotaSlotGrantedSignal,
  maxRetriesChangedSignal,
  pauseRunSignal,
  reportEndBySignal,
  runStartedSignal,
  RUN_ADOPT_WINDOW_MEMO,
  RUN_UNHELD_SINCE_MEMO,
} from '../protocol/messages.js';
import { budgetWorkflowId, slotReleaseSignal } from '../protocol/quota-budget.js';
import { QUOTA_SLOTS_PATCH, slotQuotasOf } from '../model/start-order.js';
import { STATUS_SEARCH_ATTRIBUTE } from '../protocol/search-attributes.js';
import { runQueueOf } from '../model/requirements.js';
import { withoutPause } from '../model/run-pause.js';
import {
  adoptingRecord,
  firstLoopState,
  nextStep,
  requeued,
  restartAfterWindow,
  retryAllowed,
  retryCalledOff,
  runningRecord,
  surelyStoppedAfterMs,
  type AttemptEnd,
  type RetryStep,
  type Step,
} from './next-step.js';

/** An activity must have a close timeout; the keeper enforces the run's own `--timeout`. */
const NO_ACTIVITY_LIMIT = '3650 days';
/** A live worker polls its own queue at all times: a run handed back to it is taken within this, or goes anywhere. */
const HANDED_BACK_PICKUP_MS = '1 minute';
/** Experiments started before the watchdog loop on a run nobody can hold (their histories have no memo). */
const RUN_WATCHDOG_PATCH = 'run-watchdog';
/**
 * Experiments started before it count starts that went nowhere across runs that did start, and start the
 * watchdog's fresh run on the queue a start was handed back to.
 */
const FRUITLESS_STARTS_PATCH = 'fruitless-starts-reset';
/** Experiments started before it fail a run that exits REQUEUE_EXIT_CODE, as any other exit code. */
const REQUEUE_PATCH = 'requeue';
/**
 * Experiments started at this version or later (`input.version`) take QUOTA_SLOTS_PATCH, RUN_WATCHDOG_PATCH,
 * FRUITLESS_STARTS_PATCH and REQUEUE_PATCH with no marker.
 */
const PATCHES_UNMARKED_SINCE = 1;
/** Experiments started before it wait out a retry's delay whatever `maxRetries` becomes meanwhile (always marked). */
const LOWERED_MAX_RETRIES_PATCH = 'lowered-max-retries';

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
  // `handedBackTo`: named by a worker that does not serve the run's directories, the own queue of one that does.
  const startRun = (runInput: RunInput, handedBackTo: string | undefined) =>
    handedBackTo
      ? proxyActivities<StagedActivities>({
          ...common,
          taskQueue: handedBackTo,
          scheduleToStartTimeout: HANDED_BACK_PICKUP_MS,
        }).runExperiment(runInput)
      : startAnywhere(runInput);
  const adoptRun = (location: RunLocation) =>
    proxyActivities<StagedActivities>({
      ...common,
      taskQueue: location.hostQueue,
      scheduleToStartTimeout: surelyStoppedAfterMs(location.adoptWindowMs, settings.killGraceMs),
    }).runExperiment({ ...input, run: location.run, adopt: location });

  let endBySignal = false;
  setHandler(maxRetriesChangedSignal, (maxRetries) => {
    settings.maxRetries = maxRetries; // the next failure is judged by it, and a retry waiting its delay
  });
  setHandler(reportEndBySignal, () => {
    endBySignal = true;
  });

  let record: ExperimentRecord = { status: 'queued', attempts: 0, exitCode: null };
  // The Web UI's StagedStatus: the status, or `paused` while the run is frozen (`pause <batchId> <exp>`).
  const shownStatusOf = (of: ExperimentRecord) => (of.pausedSince !== undefined ? 'paused' : of.status);
  let statusShown = shownStatusOf(record);
  const show = (next: ExperimentRecord) => {
    if (settings.searchAttributes && shownStatusOf(next) !== statusShown) {
      statusShown = shownStatusOf(next);
      upsertSearchAttributes([{ key: STATUS_SEARCH_ATTRIBUTE, value: statusShown }]);
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
  // Where the current run lives, as its activity announced it: a pause is carried out there.
  let announcedAt: RunLocation | undefined;
  setHandler(runStartedSignal, async ({ run, startedAt, location }) => {
    if (location && run >= (announcedAt?.run ?? 0)) announcedAt = location;
    if (record.status !== 'queued' || run < record.attempts) return;
    // Also while being cancelled: the batch must learn the run started,
    // and a cancelled handler would cancel the workflow.
    await CancellationScope.nonCancellable(() => report(runningRecord(record, run, startedAt)));
  });

  // Only experiments that are paused run these commands: the histories of all others are as before.
  let pauseWanted: boolean | undefined;
  let pausing = false;
  setHandler(pauseRunSignal, async ({ paused }) => {
    pauseWanted = paused;
    if (pausing) return; // the change under way looks at pauseWanted again when it is done
    pausing = true;
    try {
      await CancellationScope.nonCancellable(async () => {
        for (;;) {
          const want = pauseWanted!;
          const location = runLocationNow();
          if (!location || record.status !== 'running' || (record.pausedSince !== undefined) === want) return;
          const answer = await pauseActivity(location)
            .freezeRun({ runKey: location.runKey, freeze: want })
            .catch((err: unknown) => {
              log.warn('could not freeze or thaw the run', { error: err instanceof Error ? err.message : String(err) });
              return undefined;
            });
          // The run ended or moved on meanwhile: its end is reported by the main loop.
          if (!answer || answer.ended || record.status !== 'running' || record.attempts !== location.run) return;
          const { pausedSince } = answer;
          await report(pausedSince === null ? withoutPause(record) : { ...record, pausedSince });
        }
      });
    } finally {
      pausing = false;
    }
  });
  /** The run going on now and where it lives: being adopted, or announced by the activity that started it. */
  const runLocationNow = (): RunLocation | undefined =>
    [loop.location, announcedAt].find((location) => location?.run === record.attempts);
  const pauseActivity = (location: RunLocation) =>
    proxyActivities<StagedActivities>({
      taskQueue: location.hostQueue,
      startToCloseTimeout: '1 minute',
      scheduleToStartTimeout: surelyStoppedAfterMs(location.adoptWindowMs, settings.killGraceMs),
      priority: { priorityKey: TEMPORAL_PRIORITY_KEY.critical },
      retry: { maximumAttempts: 3 },
    });

  const patchesUnmarked = (input.version ?? 0) >= PATCHES_UNMARKED_SINCE;
  // Experiments started before quota slots existed run on without them (their histories have no slot request).
  const takesSlots = patchesUnmarked || patched(QUOTA_SLOTS_PATCH);
  // the quotas whose slot it holds or waits for, to release when it closes
  let slotQuotas = takesSlots && settings.quotas ? slotQuotasOf(input.experiment, settings) : [];
  const slotsGranted = new Set<string>();
  setHandler(quotaSlotGrantedSignal, ({ quota }) => {
    slotsGranted.add(quota);
  });

  let loop = firstLoopState(patchesUnmarked || patched(RUN_WATCHDOG_PATCH));
  const forgetsFruitlessStarts = patchesUnmarked || patched(FRUITLESS_STARTS_PATCH);
  const requeues = patchesUnmarked || patched(REQUEUE_PATCH);
  let lastRunEndedAt: number | undefined;
  let unheldShown: number | undefined;
  const showUnheld = (since: number | undefined) => {
    if (since === unheldShown) return;
    unheldShown = since;
    upsertMemo({
      [RUN_UNHELD_SINCE_MEMO]: since,
      [RUN_ADOPT_WINDOW_MEMO]: since === undefined ? undefined : loop.adoptWindowMs,
    });
  };
  /** Reports the failed run and waits the retry delay; the retry is called off once `maxRetries` disallows it. */
  const waitForRetry = async (step: RetryStep): Promise<Step> => {
    await report(step.report);
    if (!patched(LOWERED_MAX_RETRIES_PATCH)) {
      await sleep(step.afterMs);
      return step;
    }
    const lowered = await condition(() => !retryAllowed(loop.failedRuns, settings.maxRetries), step.afterMs);
    return lowered ? retryCalledOff(record, step) : step;
  };
  try {
    if (slotQuotas.length) {
      // A batch submitted before the budgets owned their quotas knows which cap experiments; it marked it so.
      show({ ...record, status: 'waiting-quota' });
      await takeDeclaredSlots(input, slotQuotas, slotsGranted);
      await report({ ...record, status: 'queued' });
    } else if (takesSlots && !settings.quotas && input.experiment.quotas?.length) {
      await takeQuotaSlots(input, (quota) => (slotQuotas = [...slotQuotas, quota]), slotsGranted, report, record);
    }
    for (;;) {
      const attemptAt = Date.now();
      let end: AttemptEnd;
      try {
        const outcome = loop.location
          ? await adoptRun(loop.location)
          : await startRun({ ...input, run: loop.nextRun }, loop.handedBackTo);
        end = { kind: 'completed', outcome };
      } catch (err) {
        if (isCancellation(err)) throw err;
        end = readFailure(err);
      }
      // A run is paused, not an experiment: only a run adopted where it lives stays frozen.
      const decision = nextStep(loop, withoutPause(record), end, {
        attemptAt,
        now: Date.now(),
        settings,
        workflowId: workflowInfo().workflowId,
        forgetsFruitlessStarts,
        requeues,
      });
      loop = decision.loop;
      if (loop.watchdog) showUnheld(decision.unheldSince);
      // Only a paused record is shown anew (its StagedStatus): others issue the commands they did before.
      if (decision.step.kind !== 'adopt' && record.pausedSince !== undefined) show(withoutPause(record));
      const step = decision.step.kind === 'retry' ? await waitForRetry(decision.step) : decision.step;
      if (step.kind === 'complete' || step.kind === 'give-up') {
        lastRunEndedAt = step.endedAt;
        record = step.record;
        break;
      }
      switch (step.kind) {
        case 'adopt': {
          if (step.afterMs !== undefined) await sleep(step.afterMs);
          const adopting = adoptingRecord(record, step.location.run);
          if (adopting) await report(adopting);
          break;
        }
        case 'start-again':
          if (step.afterMs !== undefined) await sleep(step.afterMs);
          break;
        case 'rerun-lost':
        case 'requeue':
          await report(step.report);
          break;
        case 'restart-unheld': {
          await sleep(step.afterMs);
          showUnheld(undefined);
          const restart = restartAfterWindow(loop, record, step);
          loop = restart.loop;
          await report(restart.report);
          break;
        }
        case 'quota-rerun':
          await report(step.report);
          await sleep(step.afterMs);
          await report(requeued(record));
          break;
        case 'retry': // its failure reported and its delay waited above
          await report(requeued(record));
          break;
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    record = { ...withoutPause(record), status: 'cancelled', reason: 'cancelled', retryAt: undefined };
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

/** A slot that is free is granted within this (a signal from the budget); longer, the experiment shows it waits. */
const SLOT_GRANT_MS = 1_000;
/** A budget that lost a request (terminated by hand, say) is asked again after this long. */
const SLOT_ASK_AGAIN_MS = 5 * 60_000;

const slotActivities = (input: ExperimentInput) =>
  proxyActivities<StagedActivities>({
    taskQueue: input.settings.taskQueue,
    startToCloseTimeout: '1 minute',
    priority: { priorityKey: TEMPORAL_PRIORITY_KEY.critical },
    retry: { maximumInterval: '30 seconds' },
  });

/**
 * Waits for a slot of each of the experiment's quotas whose budget declares a `maxConcurrent`, across all batches
 * and machines; `asked` learns each quota it asked for. Shown `waiting-quota` while a slot is not granted.
 */
async function takeQuotaSlots(
  input: ExperimentInput,
  asked: (quota: string) => void,
  granted: Set<string>,
  report: (next: ExperimentRecord) => Promise<void>,
  record: ExperimentRecord,
): Promise<void> {
  const { requestQuotaSlot } = slotActivities(input);
  let waiting = false;
  // One quota at a time, in name order: two experiments never each hold a slot the other waits for.
  for (const quota of [...(input.experiment.quotas ?? [])].sort()) {
    const ask = {
      quota,
      taskQueue: input.settings.taskQueue,
      priorityKey: TEMPORAL_PRIORITY_KEY[input.experiment.priority],
    };
    if (!(await requestQuotaSlot(ask))) continue;
    asked(quota);
    // A free slot's grant comes within moments: only a real wait is shown (and lets the batch pass over the quota).
    if (await condition(() => granted.has(quota), SLOT_GRANT_MS)) continue;
    if (!waiting) await report({ ...record, status: 'waiting-quota' });
    waiting = true;
    while (!(await condition(() => granted.has(quota), SLOT_ASK_AGAIN_MS))) {
      if (!(await requestQuotaSlot(ask))) break; // its cap was declared away meanwhile
    }
  }
  if (waiting) await report({ ...record, status: 'queued' });
}

/** As takeQuotaSlots, for a batch submitted before the budgets owned their quotas: with its own declarations. */
async function takeDeclaredSlots(input: ExperimentInput, quotas: string[], granted: Set<string>): Promise<void> {
  const { requestQuotaSlot } = slotActivities(input);
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

/** Reads how an attempt's activity failed, for `nextStep`. */
function readFailure(err: unknown): AttemptEnd {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (cause instanceof TimeoutFailure) {
    const scheduleToStart = cause.timeoutType === TimeoutType.SCHEDULE_TO_START;
    const heartbeat = cause.lastHeartbeatDetails as RunHeartbeatDetails | undefined;
    return { kind: 'activity-timeout', scheduleToStart, heartbeat, message };
  }
  if (cause instanceof ApplicationFailure && cause.type === FAILURE_TYPES.runLost) {
    return { kind: 'run-lost', details: cause.details?.[0] as RunLostDetails | undefined, message };
  }
  if (cause instanceof ApplicationFailure && cause.details?.length) {
    const details = cause.details[0] as RunFailureDetails;
    return { kind: 'run-failed', runnable: cause.type === FAILURE_TYPES.experimentFailed, details, message };
  }
  return { kind: 'error', message };
}
