/**
 * The calls `status` of a running batch makes beside its query, counted by the dev server: the task queue's pollers
 * are asked for once (for a silent worker and for shared machines alike), and the namespace is not described when
 * the batch's read answers in time (a busy machine may make a read slower than that: then its check is allowed).
 * Real server, worker process and CLI binary.
 */
import path from 'node:path';
import { CHECKS_AFTER_MS } from '../../src/batch-client/connect.js';
import { queryBatchState } from '../../src/batch-client/index.js';
import { workflowPollers } from '../../src/batch-client/machines.js';
import { stagedBinary as staged } from '../helpers/cli.js';
import { spawnWorker, until, type WorkerProcess } from '../helpers/processes.js';
import { tempDir, writeScript } from '../helpers/scripts.js';
import { frontendRequests } from '../helpers/server-requests.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
let worker: WorkerProcess | undefined;
afterAll(() => worker?.kill('SIGKILL'));

const STATUS_CALLS = 3;

test('status of a running batch asks for the pollers once and does not describe the namespace', async () => {
  const dir = await tempDir('status-calls');
  const journal = path.join(dir, '_journal');
  await writeScript(dir, 'exp1_long', journal, { body: 'sleep 600' });
  const { taskQueue, state } = await batchIn(dir, { maxRetries: 0 });
  worker = await spawnWorker(server.env.address, taskQueue, 1);
  const handle = await startBatch(server.env, state);
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };
  // Waited for through the query alone: status's own calls before the count would land in it late.
  await until(async () => (await queryBatchState(handle)).records[0].status === 'running', 60_000, 'the run');
  const count = async () => ({
    pollers: await frontendRequests(server.env.devServer.metricsUrl, 'DescribeTaskQueue'),
    namespace: await frontendRequests(server.env.devServer.metricsUrl, 'DescribeNamespace'),
  });

  const before = await count();
  let slowCalls = 0;
  for (let i = 0; i < STATUS_CALLS; i++) {
    const started = Date.now();
    const { exitCode, stdout, stderr } = await staged(['status', state.batchId], cli);
    expect({ exitCode, stderr, first: stdout.split('\n')[0] }).toEqual({
      exitCode: 0,
      stderr: '',
      first: `Batch ${state.batchId}: running`,
    });
    if (Date.now() - started > CHECKS_AFTER_MS) slowCalls++;
  }
  // One more asked for here, after theirs: once the server's count (reported every few seconds) shows it, it shows
  // theirs too.
  await workflowPollers(handle.client.workflowService, handle.client.options.namespace, taskQueue);
  const mine = 1;
  await until(async () => (await count()).pollers > before.pollers + STATUS_CALLS, 30_000, 'the count to show it');
  const after = await count();
  const namespaceChecks = after.namespace - before.namespace;
  expect({ pollers: after.pollers - before.pollers - mine, namespaceChecks }).toEqual({
    pollers: STATUS_CALLS,
    namespaceChecks: Math.min(namespaceChecks, slowCalls),
  });
  await handle.cancel();
}, 90_000);
