/** `status`, `watch` and `cancel`: look at or act on a batch from any terminal. */
import { Client, Connection, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { loadConnectionConfig, type ConnectionConfig } from '../connection.js';
import { countByStatus, experimentsMatching, summarize } from '../shared/batch-state.js';
import { liveBatchView } from './batch-view.js';
import { logs, type LogsOptions } from './logs.js';
import { displayFor } from './display.js';
import { runningProgress } from './live-progress.js';
import type { BatchState } from '../shared/types.js';
import { EXIT, UsageError } from './errors.js';
import { followUntilEnd, statusBlock } from './follow.js';
import { finalBatchState, queryBatchState } from '../batch-handle.js';
import { header, statusLines, summaryLines } from './render.js';
import { cancelExperimentsSignal } from '../workflows/messages.js';

const RECENT_BATCHES = 20;

async function withClient<T>(run: (client: Client, config: ConnectionConfig) => Promise<T>): Promise<T> {
  const config = loadConnectionConfig();
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...config.options, connectTimeout: 3_000 });
  } catch {
    throw new UsageError(`no Temporal server answers at ${config.address}`);
  }
  try {
    return await run(new Client({ connection, namespace: config.namespace }), config);
  } finally {
    await connection.close();
  }
}

/** The batch's handle and its workflow status (RUNNING, COMPLETED, …); a usage error when there is none. */
async function existingBatch(client: Client, batchId: string): Promise<{ handle: WorkflowHandle; status: string }> {
  const handle = client.workflow.getHandle(batchId);
  try {
    return { handle, status: (await handle.describe()).status.name };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UsageError(`no batch with id "${batchId}"`);
    throw err;
  }
}

/**
 * A finished batch's state from its stored result; a running batch's live state, from its query.
 * The query is sent along with the describe, not after it: one round trip less for `status` and `watch`.
 */
async function readBatch(client: Client, batchId: string): Promise<{ handle: WorkflowHandle; state: BatchState; status: string }> {
  const handle = client.workflow.getHandle(batchId);
  const query = queryBatchState(handle);
  query.catch(() => undefined); // a finished batch may have no worker to answer; its result is used then
  const { status } = await existingBatch(client, batchId);
  if (status === 'COMPLETED') return { handle, state: await finalBatchState(handle), status };
  try {
    return { handle, state: await query, status };
  } catch (err) {
    throw new Error(`batch ${batchId} is ${status.toLowerCase()} and no worker answered: ${(err as Error).message}`);
  }
}

export async function status(batchId: string | undefined, json: boolean): Promise<number> {
  return withClient(async (client) => {
    if (!batchId) return listBatches(client, json);
    const { state, status } = await readBatch(client, batchId);
    const statusName = status.toLowerCase();
    if (status === 'COMPLETED') {
      const { experiments } = summarize(state);
      const counts = countByStatus(experiments);
      if (json) console.log(JSON.stringify({ batchId, status: statusName, counts, eta: null, experiments }, null, 2));
      else summaryLines({ batchId, experiments }).forEach((line) => console.log(line));
    } else {
      const view = liveBatchView(state, statusName, await runningProgress(client.workflow, state), Date.now());
      if (json) console.log(JSON.stringify(view, null, 2));
      else [`Batch ${batchId}: ${statusName}`, ...statusLines(view)].forEach((line) => console.log(line));
    }
    return EXIT.ok;
  });
}

async function listBatches(client: Client, json: boolean): Promise<number> {
  const batches: { batchId: string; status: string; startedAt: string; experiments: number | null }[] = [];
  for await (const workflow of client.workflow.list({ query: `WorkflowType = 'batchWorkflow'` })) {
    const experiments = workflow.memo?.experiments;
    batches.push({
      batchId: workflow.workflowId,
      status: workflow.status.name.toLowerCase(),
      startedAt: workflow.startTime.toISOString(),
      experiments: typeof experiments === 'number' ? experiments : null,
    });
    if (batches.length >= RECENT_BATCHES) break;
  }
  if (json) console.log(JSON.stringify({ batches }, null, 2));
  else if (!batches.length) console.log('No batches yet. Start one with: npm run submit');
  else {
    console.log(`${'started'.padEnd(24)}  ${'state'.padEnd(10)}  ${'experiments'.padStart(11)}  batch`);
    batches.forEach((batch) =>
      console.log(`${batch.startedAt}  ${batch.status.padEnd(10)}  ${String(batch.experiments ?? '?').padStart(11)}  ${batch.batchId}`),
    );
  }
  return EXIT.ok;
}

export async function watch(batchId: string, statusIntervalMs: number): Promise<number> {
  return withClient(async (client) => {
    const { handle, state, status } = await readBatch(client, batchId);
    if (status === 'COMPLETED') {
      summaryLines(summarize(state)).forEach((line) => console.log(line));
      return EXIT.ok;
    }
    const display = displayFor(process.stdout);
    header(state).forEach((line) => display.line(line));
    display.status(await statusBlock(handle, state));
    return followUntilEnd(handle, {
      statusIntervalMs,
      display,
      note: console.log,
      since: state,
      printSummary: (final) => summaryLines(final).forEach((line) => console.log(line)),
    });
  });
}

export async function cancel(batchId: string, experiment?: string): Promise<number> {
  return withClient(async (client) => {
    const { handle } = await existingBatch(client, batchId);
    if (experiment === undefined) {
      await handle.cancel();
      console.log(`[CANCEL] Batch ${batchId}: queued experiments will not start; running ones are being stopped.`);
      return EXIT.ok;
    }
    const state = await queryBatchState(handle);
    const names = experimentsMatching(state, experiment).map((index) => state.experiments[index].name);
    if (!names.length) throw new UsageError(`batch "${batchId}" has no experiment "${experiment}"`);
    await handle.signal(cancelExperimentsSignal, names);
    console.log(`[CANCEL] ${names.join(', ')} in batch ${batchId}: stopped if running, never started if queued.`);
    return EXIT.ok;
  });
}

export async function showLogs(batchId: string, experiment: string, options: LogsOptions): Promise<number> {
  return withClient(async (client) => {
    const { handle, state, status } = await readBatch(client, batchId);
    return logs(handle, status, state, experiment, options);
  });
}
