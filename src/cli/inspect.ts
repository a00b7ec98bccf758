/**
 * `status`, `watch`, `cancel` and `logs`: look at or act on a batch from any terminal. A batch whose
 * workflows Temporal no longer keeps (past the namespace's retention) is read from its files.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { loadConnectionConfig } from '../connection.js';
import { batchSummaryFile } from '../paths.js';
import { countByStatus, isFinal, summarize } from '../shared/batch-state.js';
import type { BatchState, BatchSummary, ExperimentRecord } from '../shared/types.js';
import { finalBatchState, queryBatchState } from '../batch-handle.js';
import { cancelExperimentsSignal } from '../workflows/messages.js';
import { STATUS_KEY } from '../workflows/search-attributes.js';
import { readSummaryFile } from './batch-files.js';
import { liveBatchView } from './batch-view.js';
import { ANSWER_TIMEOUT_MS, withConnection } from './connect.js';
import { displayFor } from './display.js';
import { EXIT, UsageError } from './errors.js';
import { resolveExperiment } from './experiment-ref.js';
import { followUntilEnd, outcomeOf, statusBlock } from './follow.js';
import { commandHint } from './invocation.js';
import { runningProgress } from './live-progress.js';
import { logs, type LogSource, type LogsOptions } from './logs.js';
import { header, statusLines, summaryLines } from './render.js';

const RECENT_BATCHES = 20;

function withClient<T>(run: (client: Client) => Promise<T>): Promise<T> {
  return withConnection(loadConnectionConfig(), (client) => run(client));
}

/** The batch's handle and its workflow status (RUNNING, COMPLETED, …); undefined when Temporal has no such workflow. */
async function findBatch(client: Client, batchId: string): Promise<{ handle: WorkflowHandle; status: string } | undefined> {
  const handle = client.workflow.getHandle(batchId);
  try {
    return { handle, status: (await handle.describe()).status.name };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

type BatchReading =
  | { kind: 'live'; handle: WorkflowHandle; state: BatchState; status: string }
  | { kind: 'files'; summary: BatchSummary };

/**
 * A finished batch's state from its stored result; a running batch's live state, from its query;
 * a batch Temporal no longer has, from its summary.json. The query is sent along with the describe.
 */
async function readBatch(client: Client, batchId: string, workDir: string): Promise<BatchReading> {
  const handle = client.workflow.getHandle(batchId);
  const query = withinAnswerTime(queryBatchState(handle));
  query.catch(() => undefined); // a finished or gone batch may have no worker to answer
  const found = await findBatch(client, batchId);
  if (!found) {
    const summary = await readSummaryFile(workDir, batchId);
    if (summary) return { kind: 'files', summary };
    throw new UsageError(`no batch with id "${batchId}" in Temporal, and no ${batchSummaryFile(workDir, batchId)}`);
  }
  const { status } = found;
  if (status === 'COMPLETED') return { kind: 'live', handle, state: await finalBatchState(handle), status };
  try {
    return { kind: 'live', handle, state: await query, status };
  } catch (err) {
    throw new Error(noWorkerAnswers(batchId, status, err));
  }
}

function printFinished(summary: BatchSummary, json: boolean, source: string | undefined): void {
  if (json) {
    console.log(JSON.stringify({ batchId: summary.batchId, status: 'completed', counts: countByStatus(summary.experiments), eta: null, experiments: summary.experiments }, null, 2));
    return;
  }
  summaryLines(summary).forEach((line) => console.log(line));
  if (source) console.log(`(from ${source}: Temporal no longer keeps this batch)`);
}

export async function status(batchId: string | undefined, json: boolean, workDir: string): Promise<number> {
  return withClient(async (client) => {
    if (!batchId) return listBatches(client, json);
    const reading = await readBatch(client, batchId, workDir);
    if (reading.kind === 'files') {
      printFinished(reading.summary, json, batchSummaryFile(workDir, batchId));
      return EXIT.ok;
    }
    const { state, status } = reading;
    if (status === 'COMPLETED') {
      printFinished(summarize(state), json, undefined);
      return EXIT.ok;
    }
    const view = liveBatchView(state, status.toLowerCase(), await runningProgress(client.workflow, state), Date.now());
    if (json) console.log(JSON.stringify(view, null, 2));
    else [`Batch ${batchId}: ${view.status}`, ...statusLines(view)].forEach((line) => console.log(line));
    return EXIT.ok;
  });
}

async function listBatches(client: Client, json: boolean): Promise<number> {
  const batches: { batchId: string; status: string; startedAt: string; experiments: number | null }[] = [];
  for await (const workflow of client.workflow.list({ query: `WorkflowType = 'batchWorkflow'` })) {
    const experiments = workflow.memo?.experiments;
    batches.push({
      batchId: workflow.workflowId,
      // The batch's own outcome (completed, failed, cancelled): its workflow completes in every case.
      status: workflow.typedSearchAttributes.get(STATUS_KEY) ?? workflow.status.name.toLowerCase(),
      startedAt: workflow.startTime.toISOString(),
      experiments: typeof experiments === 'number' ? experiments : null,
    });
    if (batches.length >= RECENT_BATCHES) break;
  }
  if (json) console.log(JSON.stringify({ batches }, null, 2));
  else if (!batches.length) console.log(`No batches yet. Start one with: ${commandHint('submit')}`);
  else {
    console.log(`${'started'.padEnd(24)}  ${'state'.padEnd(10)}  ${'experiments'.padStart(11)}  batch`);
    batches.forEach((batch) =>
      console.log(`${batch.startedAt}  ${batch.status.padEnd(10)}  ${String(batch.experiments ?? '?').padStart(11)}  ${batch.batchId}`),
    );
  }
  return EXIT.ok;
}

export async function watch(batchId: string, statusIntervalMs: number, workDir: string): Promise<number> {
  return withClient(async (client) => {
    const reading = await readBatch(client, batchId, workDir);
    if (reading.kind === 'files' || reading.status === 'COMPLETED') {
      const summary = reading.kind === 'files' ? reading.summary : summarize(reading.state);
      summaryLines(summary).forEach((line) => console.log(line));
      return outcomeOf(summary);
    }
    const { handle, state } = reading;
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
    const found = await findBatch(client, batchId);
    if (!found) throw new UsageError(`no batch with id "${batchId}"`);
    const { handle } = found;
    if (experiment === undefined) {
      await handle.cancel();
      console.log(
        `[CANCEL] Batch ${batchId}: queued experiments will not start; running ones are stopped by their workers ` +
          '(at once, or when a worker on their machine is back).',
      );
      return EXIT.ok;
    }
    const state = await withinAnswerTime(queryBatchState(handle)).catch((err) => {
      throw new Error(`${noWorkerAnswers(batchId, 'RUNNING', err)}; cancelling the whole batch works without one: ${commandHint('cancel', [batchId])}`);
    });
    const { name } = state.experiments[resolveExperiment(state.experiments, experiment, batchId)];
    await handle.signal(cancelExperimentsSignal, [name]);
    console.log(`[CANCEL] ${name} in batch ${batchId}: stopped if running, never started if queued.`);
    return EXIT.ok;
  });
}

function liveLogSource(handle: WorkflowHandle, state: BatchState, status: string): LogSource {
  return {
    batchId: state.batchId,
    workDir: state.settings.workDir,
    experiments: state.experiments,
    statusOf: (index) => state.records[index].status,
    running: status === 'RUNNING',
    async ended(index, pinnedAttempt) {
      try {
        const record = (await queryBatchState(handle)).records[index];
        return isFinal(record.status) || (pinnedAttempt !== undefined && attemptOver(record, pinnedAttempt));
      } catch {
        return undefined;
      }
    },
  };
}

function fileLogSource(summary: BatchSummary, workDir: string): LogSource {
  return {
    batchId: summary.batchId,
    workDir,
    experiments: summary.experiments,
    statusOf: (index) => summary.experiments[index].status,
    running: false,
    ended: async () => true,
  };
}

export async function showLogs(batchId: string, experiment: string, options: LogsOptions, workDir: string): Promise<number> {
  return withClient(async (client) => {
    const reading = await readBatch(client, batchId, workDir);
    const source = reading.kind === 'files' ? fileLogSource(reading.summary, workDir) : liveLogSource(reading.handle, reading.state, reading.status);
    return logs(source, experiment, options);
  });
}

/** `attempts` counts the run in progress: attempt N is over once a later one started, or N is no longer running. */
function attemptOver(record: ExperimentRecord, attempt: number): boolean {
  return record.attempts > attempt || (record.attempts === attempt && record.status !== 'running');
}

/** A running batch's state lives in its workflow: only a worker can answer for it. */
function noWorkerAnswers(batchId: string, status: string, err: unknown): string {
  const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  return `batch ${batchId} is ${status.toLowerCase()}, but no worker answers for it (${why}); start one with: ${commandHint('worker')}`;
}

async function withinAnswerTime<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000}s`)), ANSWER_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
