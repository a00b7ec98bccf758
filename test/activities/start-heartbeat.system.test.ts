/**
 * What a short run costs the server in heartbeats: each one is a write of the experiment's state there. A run
 * that ends at once needs only the heartbeat that names where it lives before its process exists.
 */
import { batchSummary } from '../../src/batch-client/index.js';
import { until } from '../helpers/processes.js';
import { tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { frontendRequests } from '../helpers/server-requests.js';

const server = useTestServer();

const EXPERIMENTS = 10;

/** The frontend's count of activity heartbeats so far. */
const heartbeatsCounted = () => frontendRequests(server.env.devServer.metricsUrl, 'RecordActivityTaskHeartbeat');

test(`${EXPERIMENTS} runs that end at once cost about one heartbeat each, not three`, async () => {
  const { dir, journal } = await tempExperimentsDir('start-heartbeat');
  for (let i = 1; i <= EXPERIMENTS; i++) await writeScript(dir, `exp${i}_quick`, journal);
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 2 });
  const worker = await startWorker(server.env, taskQueue, 2);
  const before = await heartbeatsCounted();

  const summary = await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
  expect(summary.experiments.filter((e) => e.status !== 'completed' || e.attempts !== 1)).toEqual([]);

  // The server reports its counts every second or so: every start heartbeat shows once at least one per run does.
  let heartbeats = 0;
  await until(
    async () => (heartbeats = (await heartbeatsCounted()) - before) >= EXPERIMENTS,
    15_000,
    'the server to count the start heartbeats',
  );
  console.log(`[figure] ${heartbeats} heartbeats for ${EXPERIMENTS} runs that ended at once`);
  // Before: a heartbeat while the slot was claimed, the start's, and the first of the hold loop (about 28 for 10).
  // A run slowed past half a second on a busy machine may add one.
  expect(heartbeats).toBeLessThan(2 * EXPERIMENTS);
}, 120_000);
