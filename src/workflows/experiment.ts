import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  sleep,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { retryBackoffMs } from '../shared/batch-state.js';
import {
  FAILURE_TYPES,
  PRIORITY_KEY,
  type ExperimentInput,
  type ExperimentRecord,
  type RunFailureDetails,
} from '../shared/types.js';
import type { StagedActivities } from '../activities/index.js';
import { experimentReportSignal, reportEndBySignal } from './messages.js';
import { STATUS_KEY } from './search-attributes.js';

/** Margin over the attempt timeout for the activity to kill its tree and report. */
const ACTIVITY_CLOSE_MARGIN_MS = 60_000;

/**
 * Runs one experiment until it completes, fails for good, or is cancelled, and reports each change
 * to its batch: retries by signal, the end by its result (or by signal once the batch continued as
 * new). Two retry loops with two meanings: Temporal's activity retry policy re-runs an attempt lost
 * with its worker (crash, shutdown) without limit on retries; this workflow's own durable loop
 * retries an attempt whose process failed, at most `maxRetries` times.
 */
export async function experimentWorkflow(input: ExperimentInput): Promise<ExperimentRecord> {
  const { settings } = input;
  const batch = getExternalWorkflowHandle(input.batchId);
  const { runExperiment } = proxyActivities<StagedActivities>({
    startToCloseTimeout: (settings.timeoutMs ?? 2 ** 31 - 1) + settings.killGraceMs + ACTIVITY_CLOSE_MARGIN_MS,
    heartbeatTimeout: settings.heartbeatTimeoutMs,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    priority: { priorityKey: PRIORITY_KEY[input.experiment.priority] },
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      nonRetryableErrorTypes: [FAILURE_TYPES.experimentFailed, FAILURE_TYPES.notRunnable],
    },
  });

  // The batch run that started this experiment learns its end from its result; a later run, by signal.
  let endBySignal = false;
  setHandler(reportEndBySignal, () => {
    endBySignal = true;
  });

  let record: ExperimentRecord = { status: 'running', attempts: 0, exitCode: null, startedAt: Date.now() };
  let failures = 0;
  let runInProgress = false;
  let statusShown = record.status;
  const show = (next: ExperimentRecord) => {
    if (settings.searchAttributes && next.status !== statusShown) {
      upsertSearchAttributes([{ key: STATUS_KEY, value: next.status }]);
      statusShown = next.status;
    }
    record = next;
  };
  const report = async (next: ExperimentRecord) => {
    show(next);
    await batch.signal(experimentReportSignal, { index: input.index, record });
  };

  try {
    for (;;) {
      try {
        runInProgress = true;
        const outcome = await runExperiment({ ...input, runsBefore: record.attempts });
        runInProgress = false;
        record = { ...record, status: 'completed', attempts: record.attempts + outcome.runs, exitCode: 0 };
        break;
      } catch (err) {
        if (isCancellation(err)) throw err;
        runInProgress = false;
        const failure = describeFailure(err);
        failures++;
        const attempts = record.attempts + failure.runs;
        if (!failure.retryable || failures > settings.maxRetries) {
          record = { ...record, status: 'failed', attempts, exitCode: failure.exitCode, error: failure.message };
          break;
        }
        const delayMs = retryBackoffMs(settings.retryDelayMs, failures);
        await report({
          ...record,
          status: 'retrying',
          attempts,
          exitCode: failure.exitCode,
          error: failure.message,
          retryAt: Date.now() + delayMs,
        });
        await sleep(delayMs);
        await report({ ...record, status: 'running', retryAt: undefined });
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    record = { ...record, status: 'cancelled', attempts: record.attempts + (runInProgress ? 1 : 0), retryAt: undefined };
  }

  return CancellationScope.nonCancellable(async () => {
    const final = { ...record, closedAt: Date.now() };
    if (endBySignal) await report(final);
    else show(final);
    return final;
  });
}

interface FailureDescription {
  retryable: boolean;
  runs: number;
  exitCode: number | null;
  message: string;
}

/** Reads an activity failure; anything unexpected counts as one retryable failed run. */
function describeFailure(err: unknown): FailureDescription {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.details?.length) {
    const details = cause.details[0] as RunFailureDetails;
    return {
      retryable: cause.type === FAILURE_TYPES.experimentFailed,
      runs: details.runs,
      exitCode: details.exitCode,
      message: cause.message,
    };
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return { retryable: true, runs: 1, exitCode: null, message: `${message} (workflow ${workflowInfo().workflowId})` };
}
