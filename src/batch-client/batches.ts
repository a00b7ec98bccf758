/**
 * Every call staged makes to a batch workflow: start, find, read, cancel, list. The packed wire form
 * of a batch's state is unpacked here, and only here.
 */
import {
  WorkflowClient,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { BadInputError, NoWorkerAnswersError } from '../errors.js';
import { batchSummaryFile } from '../paths.js';
import { summarize } from '../model/batch-state.js';
import { packBatchState, unpackBatchState, type PackedBatchState } from '../model/packed-state.js';
import type { BatchState, BatchSummary } from '../model/types.js';
import { BATCH_ID_SEARCH_ATTRIBUTE, STATUS_SEARCH_ATTRIBUTE } from '../protocol/search-attributes.js';
import { ANSWER_TIMEOUT_MS } from './connect.js';
import { readSummaryFile, reserveBatchId } from './files.js';
import { keptBatchState, workerSilence, type WorkerSilence } from './kept-state.js';
import { askPollers, type AskedPollers } from './machines.js';
import { BATCH_WORKFLOW, batchStateQuery, cancelExperimentsSignal, type BatchWorkflow } from '../protocol/messages.js';

export type BatchHandle = WorkflowHandle<BatchWorkflow>;

/**
 * Reserves `results/<id>/`, then starts the batch workflow with its memo and search attributes; an id
 * already used (by files or by a workflow) is refused and the reservation given back.
 */
export async function startBatch(
  client: Client,
  state: BatchState,
  /** Fills the reserved folder before the batch starts (the code snapshot); a failure gives the id back. */
  beforeStart?: () => Promise<void>,
): Promise<BatchHandle> {
  const { batchId, settings } = state;
  const release = await reserveBatchId({
    batchId,
    submittedAt: new Date(state.createdAt).toISOString(),
    experimentsDir: settings.experimentsDir,
    workDir: settings.workDir,
    experiments: state.experiments.map((experiment) => experiment.name),
    ...(settings.checkpointBatch ? { checkpointBatch: settings.checkpointBatch } : {}),
  });
  try {
    await beforeStart?.();
    return await client.workflow.start<BatchWorkflow>(BATCH_WORKFLOW, {
      workflowId: batchId,
      taskQueue: settings.taskQueue,
      args: [packBatchState(state)],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: settings.searchAttributes
        ? [
            { key: BATCH_ID_SEARCH_ATTRIBUTE, value: batchId },
            { key: STATUS_SEARCH_ATTRIBUTE, value: 'running' },
          ]
        : undefined,
      memo: {
        experimentsDir: settings.experimentsDir,
        workDir: settings.workDir,
        experiments: state.experiments.length,
        maxConcurrent: settings.maxConcurrent,
        maxRetries: settings.maxRetries,
        timeoutMs: settings.timeoutMs,
        ...(settings.code ? { code: settings.code } : {}),
      },
    });
  } catch (err) {
    await release();
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new BadInputError(`batch id "${batchId}" is already used by another batch; choose another --batch-id`);
    }
    throw err;
  }
}

/** The batch's live state, from its query: a worker must answer. */
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

/** The batch's handle and its workflow status (RUNNING, COMPLETED, …); undefined when Temporal has no such workflow. */
export async function findBatch(
  client: Client,
  batchId: string,
): Promise<{ handle: WorkflowHandle; status: string; taskQueue: string; cancelRequested: boolean } | undefined> {
  const handle = client.workflow.getHandle(batchId);
  try {
    const { status, taskQueue, raw } = await handle.describe();
    // Asked for, and not yet carried out while no worker runs the batch.
    const cancelRequested = raw.workflowExtendedInfo?.cancelRequested === true;
    return { handle, status: status.name, taskQueue, cancelRequested };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

export type BatchReading =
  | { kind: 'live'; handle: WorkflowHandle; state: BatchState; status: string; pollers?: AskedPollers }
  | {
      kind: 'kept';
      state: BatchState;
      status: string;
      silence: WorkerSilence;
      cancelRequested: boolean;
      pollers: AskedPollers;
    }
  | { kind: 'files'; summary: BatchSummary };

/**
 * A finished batch's state from its stored result; a running batch's live state, from its query, or as Temporal
 * keeps it when no worker answers soon (`kept`); a batch Temporal no longer has, from its summary.json. The query
 * is sent along with the describe (`whileOpen`), and (`kept`) the task queue's pollers are read along with it.
 */
export async function readBatch(
  client: Client,
  batchId: string,
  workDir: string,
): Promise<Exclude<BatchReading, { kind: 'kept' }>>;
export async function readBatch(
  client: Client,
  batchId: string,
  workDir: string,
  options: { kept: true },
): Promise<BatchReading>;
export async function readBatch(
  client: Client,
  batchId: string,
  workDir: string,
  { kept: keptWanted = false } = {},
): Promise<BatchReading> {
  const startedAt = Date.now();
  const handle = client.workflow.getHandle(batchId);
  const query = withinAnswerTime(queryBatchState(whileOpen(client, batchId)));
  query.catch(() => undefined); // a finished or gone batch may have no worker to answer
  const found = await findBatch(client, batchId);
  if (!found) {
    const summary = await readSummaryFile(workDir, batchId);
    if (summary) return { kind: 'files', summary };
    throw new BadInputError(`no batch with id "${batchId}" in Temporal, and no ${batchSummaryFile(workDir, batchId)}`);
  }
  const { status } = found;
  if (status === 'COMPLETED') return { kind: 'live', handle, state: await finalBatchState(handle), status };
  if (status === 'RUNNING' && keptWanted) {
    const pollers = askPollers(client, found.taskQueue);
    const silent = workerSilence(client, found.taskQueue, startedAt, pollers).then((silence) => ({ silence }));
    // A query that fails (rather than waits) says no more than the pollers do.
    const answered = query.then(
      (state) => ({ state }),
      () => silent,
    );
    const first = await Promise.race([answered, silent]);
    if ('state' in first) return { kind: 'live', handle, state: first.state, status, pollers };
    // The answer may still come while Temporal's own records are read: it wins then.
    const kept = keptBatchState(client, batchId).then((state) => ({ state, kept: true }));
    const late = query.then(
      (state) => ({ state, kept: false }),
      () => kept,
    );
    const read = await Promise.race([late, kept]);
    if (!read.kept) return { kind: 'live', handle, state: read.state, status, pollers };
    const { cancelRequested } = found;
    return { kind: 'kept', state: read.state, status, silence: first.silence, cancelRequested, pollers };
  }
  try {
    // A batch that closed without a result (terminated, failed) was refused the query sent while it might run.
    const state = status === 'RUNNING' ? await query : await withinAnswerTime(queryBatchState(handle));
    return { kind: 'live', handle, state, status };
  } catch (err) {
    throw new NoWorkerAnswersError(batchId, status, err, found.taskQueue);
  }
}

/**
 * The batch's handle for a query sent before its status is known: once the batch has closed, the server refuses
 * the query at once, instead of a worker replaying the batch's whole history to answer a command that read the
 * result meanwhile and exited (the worker's log then says "Query not found when attempting to respond to it").
 */
function whileOpen(client: Client, batchId: string): WorkflowHandle {
  const { connection, options } = client;
  return new WorkflowClient({ connection, namespace: options.namespace, queryRejectCondition: 'NOT_OPEN' }).getHandle(
    batchId,
  );
}

/**
 * A batch that has ended, told to a user who asked it for something (exit 2). Temporal's status only when it is known
 * and not "completed": a completed batch workflow may hold failed experiments, and its summary says so.
 */
export function endedBatchError(batchId: string, what: string, status = 'COMPLETED'): BadInputError {
  const word = status === 'CANCELED' ? 'cancelled' : status.toLowerCase().replaceAll('_', ' '); // staged's spelling
  const how = status === 'COMPLETED' ? '' : ` (${word})`;
  return new BadInputError(`batch ${batchId} has ended${how}: ${what}`);
}

const NOTHING_TO_CANCEL = 'nothing to cancel';

/** A batch that runs, to be cancelled; a batch that has ended is refused, as its other changes are. */
async function batchToCancel(client: Client, batchId: string) {
  const found = await findBatch(client, batchId);
  if (!found) throw new BadInputError(`no batch with id "${batchId}"`);
  if (found.status !== 'RUNNING') throw endedBatchError(batchId, NOTHING_TO_CANCEL, found.status);
  return found;
}

/** Cancels the whole batch: queued experiments never start, running ones are stopped by their workers. */
export async function cancelBatch(client: Client, batchId: string): Promise<void> {
  await (await batchToCancel(client, batchId)).handle.cancel().catch((err: unknown) => {
    // It ended between the describe and the cancel.
    throw err instanceof WorkflowNotFoundError ? endedBatchError(batchId, NOTHING_TO_CANCEL) : err;
  });
}

/** Cancels experiments of a running batch by name; reading the batch needs a worker to answer. */
export async function cancelExperiments(client: Client, batchId: string, pick: (state: BatchState) => string[]) {
  const found = await batchToCancel(client, batchId);
  const state = await withinAnswerTime(queryBatchState(found.handle)).catch((err: unknown) => {
    throw new NoWorkerAnswersError(batchId, 'RUNNING', err, found.taskQueue);
  });
  const names = pick(state);
  await found.handle.signal(cancelExperimentsSignal, names).catch((err: unknown) => {
    // It ended between the query and the signal.
    throw err instanceof WorkflowNotFoundError ? endedBatchError(batchId, NOTHING_TO_CANCEL) : err;
  });
  return names;
}

export interface BatchListing {
  batchId: string;
  status: string;
  startedAt: string;
  experiments: number | null;
  taskQueue: string;
  /** Where it runs (`--work-dir`): tells apart the batches of two projects on one server; null if unrecorded. */
  workDir: string | null;
}

/** Runs of batch workflows read to list `limit` batches: a batch that continued as new has one run per history. */
const RUNS_READ_PER_BATCH = 20;

/**
 * The most recent batches, newest first, one row each: the status of its newest run, and the start of its
 * earliest run among the most recent `limit × 20` runs (a batch continues as new when its history grows long).
 * Only the batches submitted to `taskQueue`, when given.
 */
export async function listBatches(client: Client, limit: number, taskQueue?: string): Promise<BatchListing[]> {
  const batches = new Map<string, BatchListing>();
  let runsRead = 0;
  const onQueue = taskQueue === undefined ? '' : ` AND TaskQueue = '${taskQueue.replace(/['\\]/g, '')}'`;
  for await (const workflow of client.workflow.list({ query: `WorkflowType = '${BATCH_WORKFLOW}'${onQueue}` })) {
    if (++runsRead > limit * RUNS_READ_PER_BATCH) break;
    const startedAt = workflow.startTime.toISOString();
    const listed = batches.get(workflow.workflowId);
    if (listed) {
      if (startedAt < listed.startedAt) listed.startedAt = startedAt;
      continue;
    }
    if (batches.size >= limit) continue; // only older runs of the batches listed are still of use
    const experiments = workflow.memo?.experiments;
    const workDir = workflow.memo?.workDir;
    batches.set(workflow.workflowId, {
      batchId: workflow.workflowId,
      // The batch's own outcome (completed, failed, cancelled): its workflow completes in every case.
      status: workflow.typedSearchAttributes.get(STATUS_SEARCH_ATTRIBUTE) ?? workflow.status.name.toLowerCase(),
      startedAt,
      experiments: typeof experiments === 'number' ? experiments : null,
      taskQueue: workflow.taskQueue,
      workDir: typeof workDir === 'string' ? workDir : null,
    });
  }
  return [...batches.values()];
}

export async function withinAnswerTime<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000}s`)), ANSWER_TIMEOUT_MS);
    timer.unref(); // `status` may answer without it
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
