/**
 * A new release of staged deployed while batches run: a batch started on an older release's workflow
 * code finishes on today's code, its runs adopted, with no workflow task failing on replay. Today's code
 * keeps the old commands for it through `patched()`. The bundles: f6eeb83 (before quota slots) and
 * 5bddaa8 (the last release before issue 19, whose batches, experiments and activities still carried each
 * quota's declaration, and whose submit declared it to the budget).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { batchSummary } from '../../src/batch-client/index.js';
import { createStagedWorker } from '../../src/worker/main.js';
import { readJournal, tempDir, writeScript } from '../helpers/scripts.js';
import { until } from '../helpers/processes.js';
import { batchStateFor, startBatch, testSettings, uniqueQueue, useTestServer } from '../helpers/temporal.js';

const bundleOf = (commit: string) =>
  fileURLToPath(new URL(`../../../test/fixtures/bundles/workflow-bundle-${commit}.js.gz`, import.meta.url));
const server = useTestServer();

test('a batch with a capped quota, started on the code before quota slots, finishes on today’s code', async () => {
  await finishesOnTodaysCode(bundleOf('f6eeb83'), { declaredBySubmit: false });
}, 120_000);

test('a batch with a declared quota, started on the code before issue 19, finishes on today’s code', async () => {
  await finishesOnTodaysCode(bundleOf('5bddaa8'), { declaredBySubmit: true });
}, 120_000);

async function finishesOnTodaysCode(bundle: string, { declaredBySubmit }: { declaredBySubmit: boolean }) {
  const dir = await tempDir('upgrade');
  const journal = path.join(dir, '_journal');
  const oldBundle = path.join(dir, 'old-workflow-bundle.js');
  await writeFile(oldBundle, gunzipSync(await readFile(bundle)));
  await writeScript(dir, 'exp1_api', journal, { title: 'exp1_api\n# Quota: api', body: 'sleep 4' });
  await writeScript(dir, 'exp2_api', journal, { title: 'exp2_api\n# Quota: api', body: 'sleep 1' });
  await writeScript(dir, 'exp3_free', journal, { body: 'sleep 1' });
  const taskQueue = uniqueQueue();
  const quotas = { api: { limit: 100, windowMs: 1_000, hosts: ['api.example'], maxConcurrent: 1 } };
  const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxConcurrent: 3, maxRetries: 0 });
  const state = await batchStateFor({ ...settings, quotas });
  const machine = { machineId: 'upgraded', runsRoot: path.join(dir, '_runs') };
  const workerOn = (workflowBundlePath?: string) =>
    createStagedWorker({
      connection: server.env.nativeConnection,
      namespace: server.env.namespace ?? 'default',
      taskQueue,
      slots: 4,
      allowedRoots: [dir],
      ...machine,
      ...(workflowBundlePath ? { workflowBundlePath } : {}),
    });

  const { client } = server.env;
  const budgetId = `staged-quota/${taskQueue}/api`;
  if (declaredBySubmit) {
    // What that release's submit sent, by name and in its shapes: today's types may no longer hold them.
    const budget = { name: 'api', limit: 100, windowMs: 1_000, effectiveLimit: 100, grants: [], pausedUntil: 0 };
    await client.workflow.signalWithStart('quotaBudgetWorkflow', {
      workflowId: budgetId,
      taskQueue,
      args: [{ ...budget, grantedTotal: 0, rateLimitedTotal: 0 }],
      signal: 'declare',
      signalArgs: [quotas.api],
    });
  }
  const handle = await startBatch(server.env, state);
  const oldWorker = await workerOn(oldBundle);
  await oldWorker.runUntil(() =>
    until(async () => (await readJournal(journal)).some((entry) => entry.name === 'exp1_api'), 60_000, 'exp1 to start'),
  );
  const newWorker = await workerOn();
  const workflowIds = [state.batchId, ...state.experiments.map((e) => `${state.batchId}/${e.name}`), budgetId];
  const failedTasks = async () => {
    const failures: string[] = [];
    for (const workflowId of workflowIds) {
      const history = await client.workflow
        .getHandle(workflowId)
        .fetchHistory()
        .catch(() => undefined);
      for (const event of history?.events ?? []) {
        const failure = event.workflowTaskFailedEventAttributes?.failure?.message;
        if (failure) failures.push(`${workflowId}: ${failure.slice(0, 200)}`);
      }
    }
    return failures;
  };
  // A workflow task failing on replay is retried for ever: fail as soon as one shows, with its message.
  const replayFailed = async () => {
    for (;;) {
      const failures = await failedTasks();
      if (failures.length) throw new Error(`workflow tasks failed on today's code:\n${failures.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  };
  const summary = await newWorker.runUntil(() => Promise.race([batchSummary(handle), replayFailed()]));

  expect(summary.experiments.map((experiment) => [experiment.name, experiment.status, experiment.attempts])).toEqual([
    ['exp1_api', 'completed', 1],
    ['exp2_api', 'completed', 1],
    ['exp3_free', 'completed', 1],
  ]);
  expect(await failedTasks()).toEqual([]);
}
