/**
 * Changes to a running batch, each sent as a Temporal Update: the batch checks it first (a refused change never
 * enters its history) and answers with where things stand. A batch that has ended, or that no worker answers for,
 * is reported before anything is sent.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { BadInputError, NoWorkerAnswersError, oneLine } from '../errors.js';
import type { BatchState } from '../model/types.js';
import type { SteerAnswer } from '../model/steering.js';
import { endedBatchError, findBatch, queryBatchState, withinAnswerTime } from './batches.js';

const NO_CHANGES = 'it takes no changes';

export interface LiveBatch {
  handle: WorkflowHandle;
  state: BatchState;
}

/** A running batch and its state: it takes changes only while it runs, and only a worker answers for it. */
export async function liveBatch(client: Client, batchId: string): Promise<LiveBatch> {
  const found = await findBatch(client, batchId);
  if (!found) throw new BadInputError(`no batch with id "${batchId}"`);
  if (found.status !== 'RUNNING') throw endedBatchError(batchId, NO_CHANGES, found.status);
  const state = await withinAnswerTime(queryBatchState(found.handle)).catch((err: unknown) => {
    throw new NoWorkerAnswersError(batchId, found.status, err, found.taskQueue);
  });
  return { handle: found.handle, state };
}

/** Sends one change; a change the batch refuses is bad input (exit 2), with the batch's reason. */
export async function sendChange<Arg>(
  { handle, state }: LiveBatch,
  definition: UpdateDefinition<SteerAnswer, [Arg]>,
  arg: Arg,
): Promise<SteerAnswer> {
  try {
    return await handle.executeUpdate(definition, { args: [arg] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new BadInputError(oneLine(err.cause ?? err));
    if (err instanceof WorkflowNotFoundError) {
      throw endedBatchError(state.batchId, NO_CHANGES);
    }
    throw err;
  }
}
