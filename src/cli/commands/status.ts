/** `status [batchId]`: a batch's counts, ETA and running experiments; without an id, the recent batches. */
import {
  listBatches,
  type BatchListing,
  readBatch,
  withReadingClient,
  type WorkerSilence,
  withTerminations,
} from '../../batch-client/index.js';
import { BadInputError, EXIT } from '../../errors.js';
import { taskQueueSetting } from '../../settings.js';
import { batchSummaryFile } from '../../paths.js';
import { batchOutcome, countByStatus, summarize, summaryOutcome, type BatchOutcome } from '../../model/batch-state.js';
import type { BatchSummary } from '../../model/types.js';
import type { OptionsOf } from '../command-table.js';
import { sweepViews, type LiveBatchView, type NoWorkerView } from '../display/batch-view.js';
import { codeLine } from '../../model/code.js';
import { batchListLines, noWorkerLines, notifyFailureLines, statusLines, summaryLines } from '../display/render.js';
import { commandHint, resolveWorkDir, workerHint } from '../invocation.js';
import { readLiveView } from '../live-view.js';

const RECENT_BATCHES = 20;

export async function run(
  [batchId]: (string | undefined)[],
  options: OptionsOf<'status'>,
  rawArgs: string[] = [],
): Promise<number> {
  if (options.allQueues && rawArgs.some((arg) => arg === '--task-queue' || arg.startsWith('--task-queue='))) {
    throw new BadInputError('--all-queues lists every task queue and --task-queue one of them: give one of the two');
  }
  const workDir = resolveWorkDir(options.workDir);
  // Reads everything first and prints after: the reads go out along with the connection's checks.
  const print = await withReadingClient(async (client): Promise<() => void> => {
    if (!batchId) {
      const taskQueue = options.allQueues ? undefined : options.taskQueue;
      const batches = await listBatches(client, RECENT_BATCHES, taskQueue);
      return () => printRecent(batches, taskQueue, options.json);
    }
    const reading = await readBatch(client, batchId, workDir, { kept: true });
    if (reading.kind === 'files') {
      const summary = { ...reading.summary };
      summary.experiments = await withTerminations(client.workflow, batchId, summary.experiments);
      return () =>
        printFinished(summary, summaryOutcome(summary.experiments), options, batchSummaryFile(workDir, batchId));
    }
    const { state, status } = reading;
    if (status === 'COMPLETED') {
      const summary = summarize(state);
      summary.experiments = await withTerminations(client.workflow, batchId, summary.experiments);
      return () => printFinished(summary, batchOutcome(state), options, undefined, state.notifyFailures);
    }
    // With no worker answering for the batch, its quotas are left out: a budget answers through a worker too.
    const view = await readLiveView(client.workflow, state, status.toLowerCase(), {
      withQuotas: reading.kind !== 'kept',
      pollers: reading.pollers,
    });
    view.experiments = await withTerminations(client.workflow, batchId, view.experiments);
    const now = Date.now();
    if (reading.kind === 'kept') {
      view.noWorker = noWorkerView(reading.silence, reading.cancelRequested);
      view.eta = null; // nothing new starts, and no run's end is recorded, until a worker comes
    }
    const lines = [
      `Batch ${batchId}: ${view.status === 'running' && view.pausedSince !== null ? 'paused' : view.status}`,
      ...(view.noWorker && reading.kind === 'kept'
        ? noWorkerLines(
            view.noWorker,
            now,
            reading.silence.waitedMs,
            workerHint(view.noWorker.taskQueue),
            view.counts.running > 0,
          )
        : []),
      ...codeLines(view),
      ...statusLines(view, options.members),
    ];
    return () => {
      if (options.json) console.log(JSON.stringify(view, null, 2));
      else lines.forEach((line) => console.log(line));
    };
  });
  print();
  return EXIT.ok;
}

function printFinished(
  summary: BatchSummary,
  outcome: BatchOutcome,
  { json, members }: { json: boolean; members: boolean },
  source: string | undefined,
  notifyFailures: string[] = [],
) {
  if (json) {
    const counts = countByStatus(summary.experiments);
    const { batchId, experiments } = summary;
    const failures = notifyFailures.length ? { notifyFailures } : {};
    const code = summary.code ? { code: summary.code } : {};
    const sweeps = sweepViews(experiments);
    const view = { batchId, status: outcome, counts, eta: null, experiments, ...failures, ...code };
    console.log(JSON.stringify(sweeps.length ? { ...view, sweeps } : view, null, 2));
    return;
  }
  summaryLines(summary, members).forEach((line) => console.log(line));
  notifyFailureLines(notifyFailures).forEach((line) => console.log(line));
  if (source) console.log(`(from ${source}: Temporal no longer keeps this batch)`);
}

function noWorkerView(
  { taskQueue, lastPoll, polledRecently, lastPollerExited }: WorkerSilence,
  cancelRequested: boolean,
): NoWorkerView {
  return {
    cancelRequested,
    taskQueue,
    lastPollAt: lastPoll ? new Date(lastPoll.lastPollAt).toISOString() : null,
    lastPoller: lastPoll?.identity ?? null,
    polledRecently,
    lastPollerExited,
  };
}

/** The code the batch runs, one line; none for batches submitted before it was recorded. */
function codeLines(view: LiveBatchView): string[] {
  return view.code ? [codeLine(view.code, view.batchId)] : [];
}

/** `taskQueue`: the queue listed; undefined with --all-queues. */
function printRecent(batches: BatchListing[], taskQueue: string | undefined, json: boolean): void {
  if (json) return console.log(JSON.stringify({ taskQueue: taskQueue ?? null, batches }, null, 2));
  const where = taskQueue === undefined ? 'on any task queue' : `on task queue "${taskQueue}"`;
  if (!batches.length) {
    const others = taskQueue === undefined ? '' : ` (others: ${commandHint('status', ['--all-queues'])})`;
    const submit = taskQueue === undefined || taskQueue === taskQueueSetting() ? [] : ['--task-queue', taskQueue];
    return console.log(`No batches ${where} yet${others}. Start one with: ${commandHint('submit', submit)}`);
  }
  const header =
    taskQueue === undefined
      ? `Recent batches on every task queue:`
      : `Recent batches on task queue "${taskQueue}" (every queue: --all-queues):`;
  [header, ...batchListLines(batches, taskQueue === undefined)].forEach((line) => console.log(line));
}
