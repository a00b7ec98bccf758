/**
 * An ended run's directory stays until its experiment's workflow has closed (orphans.ts): the worker asks the
 * server about all of them in one visibility query per check, not with a describe each.
 */
import { readdir } from 'node:fs/promises';
import { batchSummary } from '../../src/batch-client/index.js';
import { until } from '../helpers/processes.js';
import { tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { frontendRequests } from '../helpers/server-requests.js';

const server = useTestServer();

const EXPERIMENTS = 12;

const requestsOf = (operation: string) => frontendRequests(server.env.devServer.metricsUrl, operation);

/** Once a request made now shows in the server's counts, every earlier one does (they are reported together). */
async function countsCaughtUp(): Promise<void> {
  const before = await requestsOf('DescribeNamespace');
  await server.env.nativeConnection.workflowService.describeNamespace({ namespace: server.env.namespace });
  await until(async () => (await requestsOf('DescribeNamespace')) > before, 15_000, 'the server to count a request');
}

test(`the directories of ${EXPERIMENTS} ended runs go once their experiments closed, no describe each`, async () => {
  const { dir, journal } = await tempExperimentsDir('ended-runs');
  for (let i = 1; i <= EXPERIMENTS; i++) await writeScript(dir, `exp${i}_quick`, journal);
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 4 });
  const worker = await startWorker(server.env, taskQueue, 4);
  await countsCaughtUp();
  const describesBefore = await requestsOf('DescribeWorkflowExecution');

  const summary = await worker.runUntil(async () => {
    const ended = await batchSummary(await startBatch(server.env, state));
    // An orphan check runs every 10 s; visibility may show a closed workflow a moment late.
    await until(
      async () => (await readdir(worker.runsDir).catch(() => [])).length === 0,
      60_000,
      "the ended runs' directories to go",
    );
    return ended;
  });
  expect(summary.experiments.filter((e) => e.status !== 'completed')).toEqual([]);

  await countsCaughtUp();
  const describes = (await requestsOf('DescribeWorkflowExecution')) - describesBefore;
  console.log(`[figure] ${describes} workflow describes for ${EXPERIMENTS} ended runs' directories`);
  // Before: one per ended run, at least, before its directory went.
  expect(describes).toBeLessThan(EXPERIMENTS / 2);
}, 120_000);
