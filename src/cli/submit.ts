/** `submit`: discovers and orders the experiments, starts the batch workflow, and follows it. */
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { loadProjectConfig } from '../config.js';
import { loadConnectionConfig } from '../connection.js';
import { discoverExperiments, specOf, type DiscoveredExperiment } from '../experiments/discover.js';
import { sortExperiments } from '../experiments/order.js';
import { selectExperiments } from '../experiments/select.js';
import { ensureSearchAttributes } from '../server/search-attributes.js';
import { newBatchState } from '../shared/batch-state.js';
import type { BatchSettings, BatchState } from '../shared/types.js';
import { batchInput } from '../batch-handle.js';
import { batchWorkflow } from '../workflows/batch.js';
import { BATCH_ID_KEY, STATUS_KEY } from '../workflows/search-attributes.js';
import { reserveBatchId } from './batch-files.js';
import { connectOrStartServer, ensureWorker } from './embedded.js';
import { EXIT, UsageError } from './errors.js';
import { displayFor } from './display.js';
import { followUntilEnd } from './follow.js';
import { commandHint } from './invocation.js';
import { header, summaryLines } from './render.js';
import { newBatchId, parseSubmitOptions, toBatchSettings, type RawSubmitOptions } from './submit-options.js';
import { completedEarlier, keepOnly, leaveOut, notCompletedIn } from './earlier-batches.js';

export interface SubmitFlags extends RawSubmitOptions {
  detach?: boolean;
  json?: boolean;
  dryRun?: boolean;
  rerunFailed?: string;
  skipCompleted?: boolean;
}

export async function resolveQueue(flags: SubmitFlags, workDir: string) {
  const options = parseSubmitOptions(flags);
  const { priorityRules } = await loadProjectConfig(workDir);
  const settings = toBatchSettings(options, workDir, false);
  const discovered = await discoverExperiments(settings.experimentsDir, priorityRules);
  const queue = sortExperiments(selectExperiments(discovered, options));
  return { options, settings, queue };
}

function printDryRun(queue: DiscoveredExperiment[], json: boolean): void {
  if (json) {
    const experiments = queue.map(({ id, name, priority, reason }) => ({ id, name, priority, reason }));
    console.log(JSON.stringify({ experiments }, null, 2));
    return;
  }
  console.log(`[DRY RUN] ${queue.length} experiment(s) would start in this order; nothing was started:`);
  const width = Math.max(...queue.map((experiment) => experiment.name.length));
  queue.forEach((experiment, index) => {
    const position = String(index + 1).padStart(String(queue.length).length);
    console.log(`  ${position}. ${experiment.name.padEnd(width)}  ${experiment.priority.toUpperCase().padEnd(8)}  ${experiment.reason}`);
  });
}

export function webUiLink(address: string, namespace: string, workflowId: string): string | undefined {
  const match = /^(localhost|127\.0\.0\.1):(\d+)$/.exec(address);
  if (!match) return undefined;
  return `http://${match[1]}:${Number(match[2]) + 1000}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}`;
}

/** Narrows the queue by what earlier batches did; needs the server (or, for gone batches, their files). */
async function applyHistory(
  client: Client,
  queue: DiscoveredExperiment[],
  flags: SubmitFlags,
  settings: BatchSettings,
  searchAttributes: boolean,
  note: (line: string) => void,
) {
  let narrowed = queue;
  if (flags.rerunFailed) {
    const rerun = await notCompletedIn(client, flags.rerunFailed, settings.workDir);
    narrowed = keepOnly(narrowed, rerun, `that did not complete in batch ${flags.rerunFailed}`);
  }
  if (flags.skipCompleted) {
    const completed = await completedEarlier(client, settings.experimentsDir, settings.workDir, searchAttributes);
    const kept = leaveOut(narrowed, completed, 'that has not completed in an earlier batch');
    note(`[SKIP] ${narrowed.length - kept.length} experiment(s) of ${settings.experimentsDir} completed in an earlier batch and are left out`);
    narrowed = kept;
  }
  return narrowed;
}

export async function submit(flags: SubmitFlags, workDir: string): Promise<number> {
  const { options, settings, queue: selected } = await resolveQueue(flags, workDir);
  const needsHistory = Boolean(flags.rerunFailed || flags.skipCompleted);
  if (flags.dryRun && !needsHistory) {
    printDryRun(selected, Boolean(flags.json));
    return EXIT.ok;
  }
  const display = displayFor(process.stdout, Boolean(flags.json));
  const print = (line: string) => display.line(line);
  const note = (line: string) => (flags.json ? console.error(line) : console.log(line));

  const config = loadConnectionConfig();
  const connection = await connectOrStartServer(config, workDir, note);
  try {
    const client = new Client({ connection, namespace: config.namespace });
    const searchAttributes = await ensureSearchAttributes(connection, config.namespace);
    const queue = await applyHistory(client, selected, flags, settings, searchAttributes, note);
    if (flags.dryRun) {
      printDryRun(queue, Boolean(flags.json));
      return EXIT.ok;
    }
    await ensureWorker(client, config, settings.taskQueue, workDir, note, [workDir, settings.experimentsDir]);
    const batchId = options.batchId ?? newBatchId();
    const state: BatchState = newBatchState(batchId, queue.map(specOf), { ...settings, searchAttributes }, Date.now());
    const handle = await startBatch(client, state, queue.length);

    const webUi = webUiLink(config.address, config.namespace, batchId);
    header(state, webUi).forEach((line) => print(line));
    if (flags.detach) {
      if (flags.json) console.log(JSON.stringify({ batchId }));
      else print(`[DETACHED] Batch ${batchId} runs on. Follow it with: ${commandHint('watch', [batchId])}`);
      return EXIT.ok;
    }

    const code = await followUntilEnd(handle, {
      statusIntervalMs: options.statusInterval,
      display,
      note,
      since: state,
      printSummary: (summary) =>
        flags.json ? console.log(JSON.stringify(summary, null, 2)) : summaryLines(summary).forEach((line) => print(line)),
    });
    // Ctrl-C while following: the batch runs on, and a script reading stdout still learns its id.
    if (code === EXIT.detached && flags.json) console.log(JSON.stringify({ batchId }));
    return code;
  } finally {
    await connection.close();
  }
}

/** Reserves `results/<id>/`, then starts the batch workflow; a refused start gives the id back. */
async function startBatch(client: Client, state: BatchState, size: number) {
  const { batchId, settings } = state;
  const release = await reserveBatchId({
    batchId,
    submittedAt: new Date(state.createdAt).toISOString(),
    experimentsDir: settings.experimentsDir,
    workDir: settings.workDir,
    experiments: state.experiments.map((experiment) => experiment.name),
  });
  try {
    return await client.workflow.start(batchWorkflow, {
      workflowId: batchId,
      taskQueue: settings.taskQueue,
      args: [batchInput(state)],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: settings.searchAttributes
        ? [
            { key: BATCH_ID_KEY, value: batchId },
            { key: STATUS_KEY, value: 'running' },
          ]
        : undefined,
      memo: {
        experimentsDir: settings.experimentsDir,
        workDir: settings.workDir,
        experiments: size,
        maxConcurrent: settings.maxConcurrent,
        maxRetries: settings.maxRetries,
        timeoutMs: settings.timeoutMs,
      },
    });
  } catch (err) {
    await release();
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new UsageError(`batch id "${batchId}" is already used by another batch; choose another --batch-id`);
    }
    throw err;
  }
}
