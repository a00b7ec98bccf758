import {
  CancellationScope,
  ChildWorkflowFailure,
  ParentClosePolicy,
  TerminatedFailure,
  type ChildWorkflowHandle,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  applyReport,
  EXPERIMENT_TERMINATED,
  EXPERIMENT_WORKFLOW_FAILED,
  batchOutcome,
  experimentWorkflowId,
  endsAwaited,
  inFlight,
  isBatchDone,
  isFinal,
} from '../model/batch-state.js';
import {
  deferredStartable,
  hasUnstarted,
  isUnstarted,
  markStarted,
  pickNextStart,
  placesHeld,
  QUOTA_SLOTS_PATCH,
  QUEUE_EMPTIED_PATCH,
  hasStartable,
  REFILL_AT_ONCE_PATCH,
  refillsAtOnce,
  RESOURCE_WAIT_PATCH,
  slotQuotasOf,
  stillBlocked,
} from '../model/start-order.js';
import { MachineWaits } from '../model/machine-waits.js';
import { freePlace, PLACE_FREED_PATCH } from '../model/freed-places.js';
import { packBatchState, unpackBatchState, type PackedBatchState } from '../model/packed-state.js';
import { EXPERIMENT_VERSION, TEMPORAL_PRIORITY_KEY, type BatchState } from '../model/types.js';
import type { StagedActivities } from '../activities/index.js';
import { experimentWorkflow } from './experiment.js';
import { BatchMetrics } from './batch-metrics.js';
import { BatchNotifier } from './notifications.js';
import {
  addExperimentsUpdate,
  batchStateQuery,
  cancelExperimentsSignal,
  changeBatchUpdate,
  changeExperimentsUpdate,
  cleanExitSignal,
  experimentReportSignal,
  maxRetriesChangedSignal,
  pauseExperimentsUpdate,
  pauseRunSignal,
  reportEndBySignal,
} from '../protocol/messages.js';
import { checkExperimentsPause, pauseSettled, type ExperimentsPause } from '../model/run-pause.js';
import { hasDependencies, skipUnreachable } from '../model/dependencies.js';
import { sweepOf } from '../model/sweep-groups.js';
import {
  addExperiments,
  changeBatch,
  changeExperiments,
  checkAdd,
  checkBatchChange,
  checkExperimentsChange,
  refusedBatch,
  sortQueue,
  steerAnswer,
  type AddRequest,
  type BatchChange,
  type ExperimentsChange,
} from '../model/steering.js';
import {
  BATCH_ID_SEARCH_ATTRIBUTE,
  EXPERIMENT_SEARCH_ATTRIBUTE,
  PRIORITY_SEARCH_ATTRIBUTE,
  STATUS_SEARCH_ATTRIBUTE,
} from '../protocol/search-attributes.js';

/**
 * Runs a batch of experiments as a sliding window: experiments start in the order of
 * `state.experiments` (already sorted by priority; a busy quota's experiments may be deferred,
 * model/start-order.ts), at most `maxConcurrent` at a time, and a slot is refilled as soon as an
 * experiment ends. An experiment started by this run reports its end as
 * its result, in one hop; retries, and the end of experiments from an earlier run, come by signal
 * (by workflow id, so they reach the current run). Children outlive a continue-as-new (ABANDON),
 * so the batch continues as new whenever its history grows past `historyLimit`, carrying its whole
 * state. Its input, queries and result are the packed form of its state (see model/packed-state.ts).
 */
export async function batchWorkflow(input: PackedBatchState): Promise<PackedBatchState> {
  const state = unpackBatchState(input);
  // Only batches with `After:` lines ever reorder on their own: a batch without keeps its recorded commands.
  let dependent = hasDependencies(state);
  if (dependent) {
    skipUnreachable(state, Date.now());
    sortQueue(state);
  }
  const metrics = new BatchMetrics(state);
  metrics.countSubmitted();
  const notifier = BatchNotifier.of(state, workflowInfo().workflowId);
  setHandler(batchStateQuery, () => packBatchState(state));
  setHandler(cancelExperimentsSignal, (names) => {
    const cancelling = cancelExperiments(state, names);
    settleDependencies();
    changes++; // a wait for something startable looks again: the queue may be empty now
    metrics.countAll(); // queued ones are cancelled at once
    return cancelling;
  });
  const pendingStarts = new Set<Promise<void>>();
  const ownChildren: OwnChildren = new Map();
  // Set once the batch takes no more changes: its experiments have all ended and its summary is on its way.
  let closing = false;
  // Counts the changes applied, so that a wait for "something startable" also wakes on one.
  let changes = 0;
  const refuse = (why: string | undefined) => {
    if (why) throw new Error(why);
  };
  /** After an experiment ended: its dependents may start now, or are skipped; the queue is sorted again. */
  function settleDependencies(): void {
    if (!dependent) return;
    skipUnreachable(state, Date.now());
    sortQueue(state);
    changes++;
  }
  setHandler(
    addExperimentsUpdate,
    (request) => {
      addExperiments(state, request);
      dependent ||= hasDependencies(state);
      settleDependencies();
      metrics.countAdded(request.experiments);
      metrics.countAll();
      changes++;
      return steerAnswer(
        state,
        request.experiments.map((experiment) => experiment.name),
      );
    },
    { validator: (request: AddRequest) => refuse(refusedBatch(state, closing) ?? checkAdd(state, request)) },
  );
  setHandler(
    changeExperimentsUpdate,
    (change) => {
      changeExperiments(state, change);
      metrics.countAll();
      changes++;
      return steerAnswer(state, change.names);
    },
    {
      validator: (change: ExperimentsChange) =>
        refuse(refusedBatch(state, closing) ?? checkExperimentsChange(state, change)),
    },
  );
  setHandler(
    changeBatchUpdate,
    async (change) => {
      changeBatch(state, change, Date.now());
      changes++;
      if (change.paused !== undefined && state.settings.searchAttributes) {
        upsertSearchAttributes([{ key: STATUS_SEARCH_ATTRIBUTE, value: change.paused ? 'paused' : 'running' }]);
      }
      if (change.maxRetries !== undefined) await tellRunning(state, change.maxRetries);
      return steerAnswer(state, []);
    },
    { validator: (change: BatchChange) => refuse(refusedBatch(state, closing) ?? checkBatchChange(state, change)) },
  );

  setHandler(
    pauseExperimentsUpdate,
    async ({ names, paused }) => {
      await Promise.all(
        names.map((name) =>
          getExternalWorkflowHandle(experimentWorkflowId(state.batchId, name))
            .signal(pauseRunSignal, { paused })
            .catch(() => undefined),
        ),
      );
      // Answered once each run is frozen or thawed (or ended); a machine whose worker is away does it later.
      const indexes = names.map((name) => state.experiments.findIndex((experiment) => experiment.name === name));
      await condition(() => indexes.every((index) => pauseSettled(state.records[index], paused)), PAUSE_ANSWER_MS);
      return steerAnswer(state, names);
    },
    {
      validator: (change: ExperimentsPause) =>
        refuse(refusedBatch(state, closing) ?? checkExperimentsPause(state, change)),
    },
  );

  const waitingSince = new Map<number, number>();
  const machineWaits = new MachineWaits(state);
  const noteChange = (index: number) => {
    if (dependent && isFinal(state.records[index]?.status ?? 'queued')) {
      settleDependencies();
      metrics.countAll(); // dependents skipped
    }
    if (state.records[index]?.status !== 'waiting-quota') waitingSince.delete(index);
    else if (!waitingSince.has(index)) waitingSince.set(index, Date.now());
    machineWaits.note(index);
    notifier?.experimentChanged(index);
  };
  setHandler(experimentReportSignal, (report) => {
    applyReport(state, report);
    metrics.countChange(report.index);
    noteChange(report.index);
  });
  // Known since before a continue-as-new: long enough.
  const waitedMs = (blocker: number) => Date.now() - (waitingSince.get(blocker) ?? 0);
  const mayPassOver = (blocker: number) => waitedMs(blocker) >= PASS_OVER_AFTER_MS;
  // A batch started before deferring existed starts strictly in order, as its history did.
  const passesOver = patched(QUOTA_SLOTS_PATCH);
  // Likewise, in a batch started before it, an experiment waiting for a machine's resources holds its place.
  const freesPlaces = patched(RESOURCE_WAIT_PATCH);
  // A batch started before this stayed waiting when every queued experiment was cancelled; now it ends.
  const endsWhenQueueEmpties = patched(QUEUE_EMPTIED_PATCH);
  const queueEmptied = () => endsWhenQueueEmpties && !hasStartable(state);
  // A batch started before it holds an experiment's place until the experiment workflow has closed.
  const freesPlaceOnCleanExit = patched(PLACE_FREED_PATCH);
  // A batch started before it starts one child per workflow task, whatever the exits say.
  const refillsRoomyPlaces = patched(REFILL_AT_ONCE_PATCH);
  /** Places freed by clean exits whose worker had a slot free beside, not refilled yet. */
  let roomyExits = 0;
  setHandler(cleanExitSignal, (exit) => {
    if (!freesPlaceOnCleanExit || !freePlace(state, exit)) return;
    machineWaits.runStopped(exit.index);
    if (refillsRoomyPlaces && exit.slotFreeBeside) roomyExits++;
  });
  const ready = freesPlaces
    ? () =>
        (state.pausedSince === undefined &&
          placesHeld(state, machineWaits.waitsForMachine) < state.settings.maxConcurrent) ||
        state.cancelRequested ||
        queueEmptied()
    : () =>
        (state.pausedSince === undefined && inFlight(state) < state.settings.maxConcurrent) || state.cancelRequested;
  const waitForPlace = async () => {
    for (;;) {
      // A waiting experiment stops holding its place after a while: look again then.
      const lookAgainMs = freesPlaces ? machineWaits.nextChangeMs() : undefined;
      if (lookAgainMs === undefined) return condition(ready);
      if (await condition(ready, lookAgainMs)) return;
    }
  };

  try {
    for (;;) {
      await startWhileQueued();
      // Experiments added meanwhile start too; a batch whose experiments have all ended takes no more.
      await condition(() => isBatchDone(state) || (hasUnstarted(state) && !state.cancelRequested));
      if (isBatchDone(state)) break;
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(() => cancelRemaining(state, pendingStarts));
  }
  closing = true;
  metrics.countAll(); // experiments marked cancelled by the batch itself
  if (state.settings.searchAttributes)
    upsertSearchAttributes([{ key: STATUS_SEARCH_ATTRIBUTE, value: batchOutcome(state) }]);
  const result = packBatchState(state);
  await CancellationScope.nonCancellable(() => writeSummaryFiles(state, result));
  if (!notifier) return result;
  await CancellationScope.nonCancellable(() => notifier.batchEnded(batchOutcome(state)));
  return packBatchState(state); // with the notifications that failed

  /** Starts queued experiments in order as places free up; continues as new when the history is long. */
  async function startWhileQueued(): Promise<void> {
    while (hasUnstarted(state) && !state.cancelRequested) {
      // Their places are refilled, or the loop waits for something else: only what later exits say counts then.
      if (!ready()) roomyExits = 0;
      await waitForPlace();
      if (state.cancelRequested) break;
      const next = pickNextStart(state, passesOver ? mayPassOver : undefined);
      if (next === 'nothing-startable') {
        roomyExits = 0;
        const seen = changes;
        await condition(() => deferredStartable(state) || state.cancelRequested || changes !== seen || queueEmptied());
        continue;
      }
      if (!('start' in next)) {
        roomyExits = 0;
        const leftMs = PASS_OVER_AFTER_MS - waitedMs(next.blocker);
        await condition(() => !stillBlocked(state, next.index) || state.cancelRequested, Math.max(1, leftMs));
        continue;
      }
      if (historyIsLong(state)) {
        await Promise.all(pendingStarts);
        // An event that arrives while the batch continues as new fails that task and replays the whole history
        if (patched(QUIET_CONTINUE_PATCH)) await condition(() => endsAwaited(state) === 0, QUIET_WAIT_MS);
        await switchToSignals(ownChildren);
        notifier?.catchUp();
        // Deliveries under way finish in this run: the next one takes their experiments as notified.
        await condition(() => allHandlersFinished() && !notifier?.busy);
        return await continueAsNew<typeof batchWorkflow>(
          packBatchState({ ...state, generation: state.generation + 1 }),
        );
      }
      markStarted(state, next.start);
      const started = startExperiment(state, next.start, ownChildren, passesOver, metrics, noteChange).finally(() => {
        pendingStarts.delete(started);
        metrics.countChange(next.start);
        noteChange(next.start);
      });
      pendingStarts.add(started);
      // One start at a time: each child asks for a worker slot before the next exists, so when slots
      // are the bottleneck experiments of one priority still start in order. Places freed where slots were free
      // beside are refilled at once: their children find free slots.
      if (refillsAtOnce(state.experiments[next.start], state.settings, roomyExits)) {
        roomyExits--;
        continue;
      }
      await started;
    }
  }
}

/** Tells each running experiment the batch's new `maxRetries`; one already ended misses nothing. */
async function tellRunning(state: BatchState, maxRetries: number): Promise<void> {
  const running = state.experiments.filter(
    (_, index) => !isUnstarted(state, index) && !isFinal(state.records[index].status),
  );
  await Promise.all(
    running.map((experiment) =>
      getExternalWorkflowHandle(experimentWorkflowId(state.batchId, experiment.name))
        .signal(maxRetriesChangedSignal, maxRetries)
        .catch(() => undefined),
    ),
  );
}

/** results/<batchId>/summary.json and summary.md; a batch's result never waits on them for long. */
async function writeSummaryFiles(state: BatchState, packed: PackedBatchState): Promise<void> {
  const { writeBatchSummary } = proxyActivities<StagedActivities>({
    taskQueue: state.settings.taskQueue,
    startToCloseTimeout: '1 minute',
    priority: { priorityKey: TEMPORAL_PRIORITY_KEY.critical },
    retry: { maximumAttempts: 5 },
  });
  try {
    await writeBatchSummary(packed);
  } catch (err) {
    log.warn('could not write the summary files', { error: err instanceof Error ? err.message : String(err) });
  }
}

/** How long `pause`/`resume <batchId> <exp>` waits for the runs to be frozen or thawed before it answers. */
const PAUSE_ANSWER_MS = 20_000;

/** Before continuing as new, the batch starts nothing until its running experiments have ended, or this long. */
const QUIET_WAIT_MS = 15_000;
/** Batches started before it continue as new at once, while their experiments' ends keep arriving. */
const QUIET_CONTINUE_PATCH = 'quiet-continue-as-new';

/** How long an experiment waits for its quota before the batch defers that quota's next experiments. */
const PASS_OVER_AFTER_MS = 2_000;

function historyIsLong(state: BatchState): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength >= state.settings.historyLimit;
}

/** Experiments started by this run, by index, until they end: their end arrives as their result. */
type OwnChildren = Map<number, { handle: ChildWorkflowHandle<typeof experimentWorkflow>; ended: Promise<void> }>;

/**
 * Before continuing as new: each experiment of this run either has ended (its result is in) or has
 * been told to report its end by signal, which reaches the new run.
 */
async function switchToSignals(ownChildren: OwnChildren): Promise<void> {
  await Promise.all(
    [...ownChildren.values()].map(({ handle, ended }) => handle.signal(reportEndBySignal).catch(() => ended)),
  );
}

/** Moves `nextIndex` past the experiment before its start is confirmed: a fast child's report is never overwritten. */
async function startExperiment(
  state: BatchState,
  index: number,
  ownChildren: OwnChildren,
  takesQuotaSlots: boolean,
  metrics: BatchMetrics,
  noteEnd: (index: number) => void,
): Promise<void> {
  const experiment = state.experiments[index];
  const { settings, batchId } = state;
  // Waiting for a slot of its quota from the start: the batch defers its quota's next experiments meanwhile.
  const status = takesQuotaSlots && slotQuotasOf(experiment, settings).length ? 'waiting-quota' : 'queued';
  state.records[index] = { status, attempts: 0, exitCode: null };
  try {
    const handle = await startChild(experimentWorkflow, {
      workflowId: experimentWorkflowId(batchId, experiment.name),
      args: [{ batchId, index, experiment, settings, version: EXPERIMENT_VERSION }],
      taskQueue: settings.taskQueue,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      priority: { priorityKey: TEMPORAL_PRIORITY_KEY[experiment.priority] },
      memo: {
        script: `${settings.experimentsDir}/${experiment.file}`,
        workDir: settings.workDir,
        maxRetries: settings.maxRetries,
        timeoutMs: settings.timeoutMs,
        retryTimeouts: settings.retryTimeouts,
        ...(experiment.params ? { sweep: sweepOf(experiment), params: experiment.params } : {}),
      },
      typedSearchAttributes: settings.searchAttributes
        ? [
            { key: BATCH_ID_SEARCH_ATTRIBUTE, value: batchId },
            { key: EXPERIMENT_SEARCH_ATTRIBUTE, value: experiment.name },
            { key: PRIORITY_SEARCH_ATTRIBUTE, value: experiment.priority },
            { key: STATUS_SEARCH_ATTRIBUTE, value: 'queued' },
          ]
        : undefined,
    });
    const ended = handle.result().then(
      (record) => applyReport(state, { index, record }),
      (err) => {
        const record = state.records[index];
        if (isCancellation(err))
          return applyReport(state, {
            index,
            record: { ...record, status: 'cancelled', reason: 'cancelled', closedAt: Date.now() },
          });
        const message = err instanceof Error ? err.message : String(err);
        const terminated = err instanceof ChildWorkflowFailure && err.cause instanceof TerminatedFailure;
        applyReport(state, {
          index,
          record: {
            ...record,
            status: 'failed',
            closedAt: Date.now(),
            error: terminated ? EXPERIMENT_TERMINATED : `${EXPERIMENT_WORKFLOW_FAILED}${message}`,
          },
        });
      },
    );
    const countAndForget = () => {
      metrics.countChange(index);
      noteEnd(index);
      ownChildren.delete(index);
    };
    ownChildren.set(index, { handle, ended: ended.finally(countAndForget) });
  } catch (err) {
    const record = state.records[index];
    if (isFinal(record.status)) return;
    const message = err instanceof Error ? err.message : String(err);
    state.records[index] = { ...record, status: 'failed', closedAt: Date.now(), error: `could not start: ${message}` };
  }
}

/** Queued experiments never start; running ones are cancelled and given time to kill their processes. */
async function cancelRemaining(state: BatchState, pendingStarts: Set<Promise<void>>): Promise<void> {
  state.cancelRequested = true;
  await Promise.all(pendingStarts);
  const remaining = state.experiments.filter((_, index) => !isFinal(state.records[index].status));
  await cancelExperiments(
    state,
    remaining.map((experiment) => experiment.name),
  );
  const reported = await condition(() => isBatchDone(state), state.settings.killGraceMs + 60_000);
  if (reported) return;
  const now = Date.now();
  state.records.forEach((record, index) => {
    if (!isFinal(record.status)) state.records[index] = { ...record, status: 'cancelled', closedAt: now };
  });
}

/** Cancels experiments by name: a queued one is marked cancelled at once, a running one is asked to stop. */
async function cancelExperiments(state: BatchState, names: string[]): Promise<void> {
  const wanted = new Set(names);
  const now = Date.now();
  const running: Promise<void>[] = [];
  state.experiments.forEach((experiment, index) => {
    const record = state.records[index];
    if (!wanted.has(experiment.name) || isFinal(record.status)) return;
    if (isUnstarted(state, index)) {
      state.records[index] = { ...record, status: 'cancelled', closedAt: now };
    } else {
      const child = getExternalWorkflowHandle(experimentWorkflowId(state.batchId, experiment.name));
      running.push(child.cancel().catch(() => undefined));
    }
  });
  await Promise.all(running);
}
