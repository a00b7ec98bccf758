/** `status [batchId]`: a batch's counts, ETA and running experiments; without an id, the recent batches. */
import {
  listBatches,
  type BatchListing,
  quotaViews,
  readBatch,
  runningProgress,
  waitingForMachines,
  withReadingClient,
} from '../../batch-client/index.js';
import { EXIT } from '../../errors.js';
import { batchSummaryFile } from '../../paths.js';
import { batchOutcome, countByStatus, summarize, summaryOutcome, type BatchOutcome } from '../../model/batch-state.js';
import type { BatchSummary } from '../../model/types.js';
import type { OptionsOf } from '../command-table.js';
import { liveBatchView, sweepViews, type LiveBatchView } from '../display/batch-view.js';
import { codeLine } from '../../model/code.js';
import { batchListLines, notifyFailureLines, statusLines, summaryLines } from '../display/render.js';
import { commandHint, resolveWorkDir } from '../invocation.js';

const RECENT_BATCHES = 20;

export async function run([batchId]: (string | undefined)[], options: OptionsOf<'status'>): Promise<number> {
  const workDir = resolveWorkDir(options.workDir);
  // Reads everything first and prints after: the reads go out along with the connection's checks.
  const print = await withReadingClient(async (client): Promise<() => void> => {
    if (!batchId) {
      const batches = await listBatches(client, RECENT_BATCHES);
      return () => printRecent(batches, options.json);
    }
    const reading = await readBatch(client, batchId, workDir);
    if (reading.kind === 'files') {
      const { summary } = reading;
      return () =>
        printFinished(summary, summaryOutcome(summary.experiments), options, batchSummaryFile(workDir, batchId));
    }
    const { state, status } = reading;
    if (status === 'COMPLETED') {
      return () => printFinished(summarize(state), batchOutcome(state), options, undefined, state.notifyFailures);
    }
    const [runs, quotas, waiting] = await Promise.all([
      runningProgress(client.workflow, state),
      quotaViews(client.workflow, state),
      waitingForMachines(client.workflow, state),
    ]);
    const view = liveBatchView(state, status.toLowerCase(), runs, Date.now(), quotas, waiting);
    const lines = [`Batch ${batchId}: ${view.status}`, ...codeLines(view), ...statusLines(view, options.members)];
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

/** The code the batch runs, one line; none for batches submitted before it was recorded. */
function codeLines(view: LiveBatchView): string[] {
  return view.code ? [codeLine(view.code, view.batchId)] : [];
}

function printRecent(batches: BatchListing[], json: boolean): void {
  if (json) console.log(JSON.stringify({ batches }, null, 2));
  else if (!batches.length) console.log(`No batches yet. Start one with: ${commandHint('submit')}`);
  else batchListLines(batches).forEach((line) => console.log(line));
}
