/** A running batch's view as `status` and `watch` show it: its state and what Temporal knows beside it. */
import type { WorkflowClient } from '@temporalio/client';
import {
  quotaViews,
  runningProgress,
  sharedMachines,
  waitingForMachines,
  type AskedPollers,
} from '../batch-client/index.js';
import type { BatchState } from '../model/types.js';
import { liveBatchView, type LiveBatchView } from './display/batch-view.js';

/**
 * Reads the running experiments' progress, the quotas, the machine waits and the machines shared with other workers,
 * all at once. `withQuotas: false` leaves the quotas out: a budget answers through a worker too. `pollers`: the
 * task queue's, when the batch's reading asked for them already.
 */
export async function readLiveView(
  client: WorkflowClient,
  state: BatchState,
  status: string,
  { withQuotas = true, pollers }: { withQuotas?: boolean; pollers?: AskedPollers } = {},
): Promise<LiveBatchView> {
  const [runs, quotas, waiting, shared] = await Promise.all([
    runningProgress(client, state),
    withQuotas ? quotaViews(client, state) : [],
    waitingForMachines(client, state),
    sharedMachines(client, state.settings.taskQueue, pollers),
  ]);
  const view = liveBatchView(state, status, runs, Date.now(), quotas, waiting);
  if (shared.length) view.sharedMachines = shared;
  return view;
}
