/** `submit`: discovers and orders the experiments, starts the batch workflow, and follows it. */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@temporalio/client';
import {
  callsMeasuredEarlier,
  completedEarlier,
  declareQuotas,
  notCompletedIn,
  startBatch,
} from '../../batch-client/index.js';
import { unservedReason } from '../../batch-client/machines.js';
import { checkpointBatchOf } from '../../batch-client/checkpoints.js';
import { webUiLink } from '../../batch-client/web-ui.js';
import { loadProjectConfig } from '../../config.js';
import { loadConnectionConfig } from '../../connection.js';
import { BadInputError, EXIT } from '../../errors.js';
import {
  discoverScripts,
  refuseBadHeaders,
  refuseNotExecutable,
  specOf,
  type DiscoveredExperiment,
} from '../../experiments/discover.js';
import { sortExperiments } from '../../experiments/order.js';
import { resolveAfterLines, withinBatch } from '../../experiments/after-lines.js';
import { narrowQueue, refuseMissingMembers, selectExperiments } from '../../experiments/select.js';
import { applySweepOption, refuseTooMany } from '../../experiments/sweep-members.js';
import { refuseLongRunKeys } from '../../experiments/batch-bounds.js';
import { ensureSearchAttributes } from '../../server/search-attributes.js';
import { newBatchState } from '../../model/batch-state.js';
import { DEFAULT_NOTIFY_EVENTS } from '../../model/notifications.js';
import type { BatchSettings, QuotaDeclaration } from '../../model/types.js';
import { newBatchId, toBatchSettings } from '../batch-settings.js';
import type { OptionsOf } from '../command-table.js';
import { displayFor } from '../display/display.js';
import { dryRunLines, header, quotaPlanLine, summaryLines } from '../display/render.js';
import { planQuotas } from '../../quota/plan.js';
import { connectOrStartServer, ensureWorker } from '../embedded.js';
import { quotasUsedBy, refuseUnmetered } from '../quota-use.js';
import { followUntilEnd } from '../follow.js';
import { commandHint, resolveWorkDir } from '../invocation.js';
import { codeAtSubmit, snapshotNote, snapshotPlanOf, takeSnapshot } from '../code-at-submit.js';

type SubmitOptions = OptionsOf<'submit'>;
const nameOf = (experiment: { name: string }) => experiment.name;

/** The experiments `submit` would run, in start order, before earlier batches narrow them. */
async function resolveQueue(options: SubmitOptions, workDir: string) {
  const config = await loadProjectConfig(workDir);
  const rules = { priority: config.priorityRules, quotas: new Set(Object.keys(config.quotas)) };
  const experimentsDir = path.resolve(workDir, options.dir);
  const discovered = await discoverScripts(experimentsDir, { ...rules, maxExperiments: options.maxExperiments });
  if (!discovered.length) {
    throw new BadInputError(
      `no experiments in ${experimentsDir}: it holds no *.py file or executable script (names starting with _ ` +
        'or . are left out)',
    );
  }
  let selected = selectExperiments(discovered, options);
  refuseBadHeaders(selected);
  if (options.sweep) selected = applySweepOption(selected, options.sweep, options.maxExperiments);
  refuseNotExecutable(selected);
  const others = discovered.filter((experiment) => !selected.includes(experiment));
  // A wrong After: line is bad input before anything else is done; it may name an experiment left out.
  const queue = sortExperiments(resolveAfterLines(selected, others));
  const quotas = quotasUsedBy(queue, config.quotas);
  refuseUnmetered(queue, quotas);
  const notifications = options.notifyCmd
    ? [...config.notifications, { on: [...DEFAULT_NOTIFY_EVENTS], command: options.notifyCmd }]
    : config.notifications;
  const settings = toBatchSettings(options, workDir, false);
  const snapshot = await snapshotPlanOf(options, config, settings, queue.map(nameOf));
  // The batch carries none of them: each quota's budget owns it once `run` declares it (declareQuotas).
  return { settings, queue, quotas, notifications, snapshot };
}

async function printDryRun(
  queue: DiscoveredExperiment[],
  settings: BatchSettings,
  declared: Record<string, QuotaDeclaration>,
  json: boolean,
): Promise<void> {
  const unestimated = queue.some((experiment) => experiment.quotas?.length && experiment.calls === undefined);
  const measured = unestimated ? await callsMeasuredEarlier(settings.workDir, settings.experimentsDir) : undefined;
  const quotas = planQuotas(queue, declared, measured);
  if (json) {
    const experiments = queue.map(({ id, name, priority, reason }) => ({ id, name, priority, reason }));
    console.log(JSON.stringify({ experiments, ...(quotas.length ? { quotas } : {}) }, null, 2));
    return;
  }
  [...dryRunLines(queue), ...quotas.map(quotaPlanLine)].forEach((line) => console.log(line));
}

/** Narrows the queue by what earlier batches did; needs the server (or, for gone batches, their files). */
async function applyHistory(
  client: Client,
  queue: DiscoveredExperiment[],
  options: SubmitOptions,
  settings: BatchSettings,
  searchAttributes: boolean,
  note: (line: string) => void,
) {
  let narrowed = queue;
  if (options.rerunFailed) {
    const rerun = await notCompletedIn(client, options.rerunFailed, settings.workDir);
    refuseMissingMembers(queue, rerun, options.rerunFailed);
    narrowed = narrowQueue(
      narrowed,
      (name) => rerun.has(name),
      `that did not complete in batch ${options.rerunFailed}`,
    );
    settings.checkpointBatch = await checkpointBatchOf(settings.workDir, options.rerunFailed);
  }
  if (options.skipCompleted) {
    const completed = await completedEarlier(client, settings.experimentsDir, settings.workDir, searchAttributes);
    const kept = narrowQueue(narrowed, (name) => !completed.has(name), 'that has not completed in an earlier batch');
    note(
      `[SKIP] ${narrowed.length - kept.length} experiment(s) of ${settings.experimentsDir} ` +
        'completed in an earlier batch ' +
        'and are left out',
    );
    narrowed = kept;
  }
  return narrowed;
}

/** Says at once when no live worker runs scripts of the batch's directories: its runs wait until one does. */
async function warnIfUnserved(
  client: Client,
  namespace: string,
  settings: BatchSettings,
  note: (line: string) => void,
) {
  const dirs = await Promise.all(
    [...new Set([settings.experimentsDir, settings.workDir])].map((dir) => realpath(dir).catch(() => dir)),
  );
  const reason = await unservedReason(client.workflowService, namespace, settings.taskQueue, dirs);
  if (reason) note(`[WAIT] ${reason}: its runs wait for a worker started with --allow-dir ${dirs.join(' ')}`);
}

export async function run(_args: string[], options: SubmitOptions): Promise<number> {
  const workDir = resolveWorkDir(options.workDir);
  const { settings, queue: selected, quotas, notifications, snapshot } = await resolveQueue(options, workDir);
  const needsHistory = Boolean(options.rerunFailed || options.skipCompleted);
  if (!needsHistory) refuseTooMany(selected.length, options.maxExperiments);
  refuseLongRunKeys(options.batchId ?? newBatchId(), selected);
  if (options.dryRun && !needsHistory) {
    await printDryRun(selected, settings, quotas, options.json);
    return EXIT.ok;
  }
  const display = displayFor(process.stdout, options.json);
  const print = (line: string) => display.line(line);
  const note = (line: string) => (options.json ? console.error(line) : console.log(line));

  const config = loadConnectionConfig();
  const connection = await connectOrStartServer(config, workDir, note);
  try {
    const client = new Client({ connection, namespace: config.namespace });
    const searchAttributes = await ensureSearchAttributes(connection, config.namespace);
    const queue = await applyHistory(client, selected, options, settings, searchAttributes, note);
    refuseTooMany(queue.length, options.maxExperiments);
    if (options.dryRun) {
      await printDryRun(queue, settings, quotas, options.json);
      return EXIT.ok;
    }
    const dirs = [workDir, settings.experimentsDir];
    if (!(await ensureWorker(client, config, settings.taskQueue, workDir, note, dirs))) {
      await warnIfUnserved(client, config.namespace, settings, note);
    }
    const declared = await declareQuotas(client.workflow, settings.taskQueue, quotas, { notifications, workDir });
    declared.forEach((line) => note(line));
    const batchId = options.batchId ?? newBatchId();
    const experiments = withinBatch(queue.map(specOf));
    const state = newBatchState(batchId, experiments, { ...settings, searchAttributes }, Date.now());
    if (notifications.length) state.notifications = notifications;
    state.settings.code = await codeAtSubmit(workDir, batchId, snapshot);
    const handle = await startBatch(client, state, takeSnapshot(snapshot, state.settings.code));
    if (snapshot) note(snapshotNote(snapshot, batchId));

    header(state, await webUiLink(config.address, config.namespace, workDir, batchId)).forEach((line) => print(line));
    if (options.detach) {
      if (options.json) console.log(JSON.stringify({ batchId }));
      else print(`[DETACHED] Batch ${batchId} runs on. Follow it with: ${commandHint('watch', [batchId])}`);
      return EXIT.ok;
    }

    const code = await followUntilEnd(handle, {
      statusIntervalMs: options.statusInterval,
      display,
      note,
      since: state,
      printSummary: (summary) =>
        options.json
          ? console.log(JSON.stringify(summary, null, 2))
          : summaryLines(summary).forEach((line) => print(line)),
    });
    // Ctrl-C while following: the batch runs on, and a script reading stdout still learns its id.
    if (code === EXIT.detached && options.json) console.log(JSON.stringify({ batchId }));
    return code;
  } finally {
    await connection.close();
  }
}
