/** A client's view of a batch workflow: the packed wire form is unpacked here, and only here. */
import type { WorkflowHandle } from '@temporalio/client';
import { summarize } from './shared/batch-state.js';
import { packBatchState, unpackBatchState, type PackedBatchState } from './shared/packed-state.js';
import type { BatchState, BatchSummary } from './shared/types.js';
import { batchStateQuery } from './workflows/messages.js';

export function batchInput(state: BatchState): PackedBatchState {
  return packBatchState(state);
}

export async function queryBatchState(handle: WorkflowHandle): Promise<BatchState> {
  return unpackBatchState(await handle.query(batchStateQuery));
}

/** Waits for the batch to end and returns its final state, from its result. */
export async function finalBatchState(handle: WorkflowHandle): Promise<BatchState> {
  return unpackBatchState((await handle.result()) as PackedBatchState);
}

/** Waits for the batch to end and returns its summary. */
export async function batchSummary(handle: WorkflowHandle): Promise<BatchSummary> {
  return summarize(await finalBatchState(handle));
}
