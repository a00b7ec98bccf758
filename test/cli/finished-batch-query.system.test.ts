/**
 * `status`, `watch` and `logs` send their query to a batch before they know whether it has ended. Once it has, the
 * server refuses that query at once: no worker replays the batch's whole history to answer a command that read the
 * result and exited (its log said "Query not found when attempting to respond to it"). Counted by the dev server:
 * a query reaches its matching service only when it is handed to a worker on its own. Real server, worker process
 * and CLI binary.
 */
import path from 'node:path';
import { batchSummary, queryBatchState } from '../../src/batch-client/index.js';
import { stagedBinary as staged } from '../helpers/cli.js';
import { spawnWorker, until, type WorkerProcess } from '../helpers/processes.js';
import { tempDir, writeScript } from '../helpers/scripts.js';
import { serviceRequests } from '../helpers/server-requests.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
let worker: WorkerProcess | undefined;
afterAll(() => worker?.kill('SIGKILL'));

const handedToWorkers = () => serviceRequests(server.env.devServer.metricsUrl, 'QueryWorkflow', 'matching');

test('status, watch and logs of a finished batch hand no query to a worker', async () => {
  const dir = await tempDir('finished-query');
  for (let i = 1; i <= 4; i++) await writeScript(dir, `exp${i}_quick`, path.join(dir, '_journal'), { body: 'true' });
  const { taskQueue, state } = await batchIn(dir, { maxRetries: 0, maxConcurrent: 2 });
  worker = await spawnWorker(server.env.address, taskQueue, 2);
  const handle = await startBatch(server.env, state);
  expect((await batchSummary(handle)).experiments.map((experiment) => experiment.status)).toEqual(
    Array(4).fill('completed'),
  );
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };

  const before = await handedToWorkers();
  for (const args of [
    ['status', state.batchId],
    ['watch', state.batchId],
    ['logs', state.batchId, 'exp1_quick'],
  ]) {
    const { exitCode, stderr } = await staged(args, cli);
    expect({ args, exitCode, stderr }).toEqual({ args, exitCode: 0, stderr: '' });
  }
  // A query of the finished batch asked here, after theirs, is handed to the worker: once the server's count
  // (reported every few seconds) shows it, it shows any of theirs too. Before: 1 + 3.
  expect((await queryBatchState(handle)).batchId).toBe(state.batchId);
  await until(async () => (await handedToWorkers()) > before, 30_000, 'the server to count the query asked here');
  expect((await handedToWorkers()) - before).toBe(1);
}, 90_000);
