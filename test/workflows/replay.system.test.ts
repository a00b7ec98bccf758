/**
 * Batches keep running across an upgrade of staged: histories recorded from real batches replay
 * against today's workflow code, so a change that would break workflows already running fails here.
 * Scenarios: retried and failed experiments, a cancelled batch, a batch continued as new (at once, and once its
 * experiments ended), quota slots (with the quota's budget), a worker killed mid-run and its runs adopted,
 * notifications, requeues, places freed by clean exits (and refilled at once), experiments with no patch marker,
 * a retry waiting its delay when --max-retries is lowered.
 * Recorded histories are kept as they were: `STAGED_RECORD_HISTORIES=1` records only scenarios that have none yet.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { encodeHistory } from '../helpers/replay-histories.js';
import { batchSummary, cancelBatch, queryBatchState } from '../../src/batch-client/index.js';
import { budgetWorkflowId } from '../../src/protocol/quota-budget.js';
import { PYTHON_DIR } from '../../src/quota/run-environment.js';
import {
  batchIn,
  quotaBatchStateFor,
  startBatch,
  startWorker,
  testSettings,
  uniqueQueue,
  useTestServer,
} from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { CLI, spawnWorker, until } from '../helpers/processes.js';
import { closeHttpServer } from '../helpers/http-servers.js';
import { closedGate } from '../helpers/gate.js';
import type { BatchState } from '../../src/model/types.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/histories/', import.meta.url));
const REPLAYER = fileURLToPath(new URL('../helpers/replay-histories.js', import.meta.url));
const recording = process.env.STAGED_RECORD_HISTORIES === '1';
const server = useTestServer();

const workflowIdsOf = (state: BatchState) => [
  state.batchId,
  ...state.experiments.map((experiment) => `${state.batchId}/${experiment.name}`),
];

/** Every run of each workflow (a continued-as-new one has several), as `<id with / as __>[@run].bin`. */
async function saveHistories(workflowIds: string[]): Promise<void> {
  const { client } = server.env;
  for (const workflowId of workflowIds) {
    const runs = [];
    for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(execution);
    runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    for (const [index, { runId }] of runs.entries()) {
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      const suffix = runs.length > 1 ? `@${index + 1}` : '';
      await writeFile(path.join(FIXTURES, `${workflowId.replaceAll('/', '__')}${suffix}.bin`), encodeHistory(history));
    }
  }
}

const SCENARIOS: Record<string, () => Promise<string[]>> = {
  'replay-batch': async () => {
    const { dir, journal } = await tempExperimentsDir('replay');
    await writeScript(dir, 'exp1_fine', journal, { title: 'Production check.' });
    await writeScript(dir, 'exp2_flaky', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ]' });
    await writeScript(dir, 'exp3_broken', journal, { body: 'echo "no data for AAPL" >&2; exit 3' });
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 2, maxRetries: 1 }, 'replay-batch');
    const worker = await startWorker(server.env, taskQueue, 2);
    await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    return workflowIdsOf(state);
  },

  'replay-cancelled': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-cancelled');
    await writeScript(dir, 'exp1_long', journal, { body: 'sleep 300' });
    await writeScript(dir, 'exp2_queued', journal);
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 1 }, 'replay-cancelled');
    const worker = await startWorker(server.env, taskQueue, 2);
    await worker.runUntil(async () => {
      const handle = await startBatch(server.env, state);
      await until(async () => (await readJournal(journal)).length > 0, 30_000, 'the long run to start');
      await cancelBatch(server.env.client, state.batchId);
      return batchSummary(handle);
    });
    return workflowIdsOf(state);
  },

  'replay-continued': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-continued');
    for (let i = 1; i <= 6; i++) await writeScript(dir, `exp${i}_spanning`, journal, { body: 'sleep 0.3' });
    const overrides = { maxConcurrent: 2, historyLimit: 20 };
    const { taskQueue, state } = await batchIn(dir, overrides, 'replay-continued');
    const worker = await startWorker(server.env, taskQueue, 2);
    await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    return workflowIdsOf(state);
  },

  // As 'replay-continued', recorded since a batch waits for its running experiments before it continues as new.
  'replay-quiet-continued': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-quiet-continued');
    for (let i = 1; i <= 6; i++) await writeScript(dir, `exp${i}_spanning`, journal, { body: 'sleep 0.3' });
    const overrides = { maxConcurrent: 2, historyLimit: 20 };
    const { taskQueue, state } = await batchIn(dir, overrides, 'replay-quiet-continued');
    const worker = await startWorker(server.env, taskQueue, 2);
    await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    return workflowIdsOf(state);
  },

  'replay-slots': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-slots');
    for (const name of ['exp1_api', 'exp2_api']) {
      const acquire = `"${path.join(PYTHON_DIR, 'bin', 'staged-quota')}" acquire api 2`;
      await writeScript(dir, name, journal, { title: `${name}\n# Quota: api`, body: `${acquire}; sleep 1` });
    }
    await writeScript(dir, 'exp3_free', journal);
    const quotas = { api: { limit: 100, windowMs: 1_000, hosts: ['api.example'], maxConcurrent: 1 } };
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 3, quotas }, 'replay-slots');
    const worker = await startWorker(server.env, taskQueue, 3);
    await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    return [...workflowIdsOf(state), budgetWorkflowId(taskQueue, 'api')];
  },

  // As today's submit starts it: the quota declared to its budget, the batch naming it only (issue 19).
  'replay-owned-slots': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-owned-slots');
    for (const name of ['exp1_api', 'exp2_api']) {
      const acquire = `"${path.join(PYTHON_DIR, 'bin', 'staged-quota')}" acquire api 2`;
      await writeScript(dir, name, journal, { title: `${name}\n# Quota: api`, body: `${acquire}; sleep 1` });
    }
    await writeScript(dir, 'exp3_free', journal);
    const quotas = { api: { limit: 100, windowMs: 1_000, hosts: ['api.example'], maxConcurrent: 1 } };
    const taskQueue = uniqueQueue();
    const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxConcurrent: 3 });
    const state = await quotaBatchStateFor(server.env, settings, quotas, 'replay-owned-slots');
    const worker = await startWorker(server.env, taskQueue, 3);
    await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    return [...workflowIdsOf(state), budgetWorkflowId(taskQueue, 'api')];
  },

  'replay-resource-wait': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-resource-wait');
    await writeScript(dir, 'exp1_gpu', journal, { title: 'exp1_gpu\n#\n# Requires: gpu' });
    // The GPU experiment waits longer than the batch lets it hold a place (5 s) while exp3 waits for one.
    const cpuNames = ['exp2_cpu', 'exp3_cpu'];
    await writeScript(dir, 'exp2_cpu', journal, { body: 'sleep 7' });
    await writeScript(dir, 'exp3_cpu', journal);
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 2 }, 'replay-resource-wait');
    const worker = await startWorker(server.env, taskQueue, 2);
    await worker.runUntil(async () => {
      const handle = await startBatch(server.env, state);
      const cpuEnded = async () =>
        (await readJournal(journal)).filter((entry) => entry.event === 'end' && cpuNames.includes(entry.name)).length;
      await until(async () => (await cpuEnded()) === cpuNames.length, 60_000, 'the CPU runs to end');
      const gpuBox = ['--resources', 'gpu=1', '--machine-id', 'gpu-box', '--runs-dir', await tempDir('runs-gpu')];
      const gpu = await spawnWorker(server.env.address, taskQueue, 1, gpuBox);
      try {
        return await batchSummary(handle);
      } finally {
        gpu.kill('SIGTERM');
      }
    });
    return workflowIdsOf(state);
  },

  // Notifications (issue 20): delivered across continue-as-new runs, and one that fails for good.
  'replay-notified': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-notified');
    for (let i = 1; i <= 4; i++) await writeScript(dir, `exp${i}_fine`, journal, { body: 'sleep 0.3' });
    await writeScript(dir, 'exp5_broken', journal, { body: 'exit 3' });
    const receiver = createServer((request, response) => request.resume().on('end', () => response.end('ok')));
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const webhook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const refused = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/hook`;
    await closeHttpServer(closed);
    const overrides = { maxConcurrent: 2, maxRetries: 0, historyLimit: 20 };
    const { taskQueue, state } = await batchIn(dir, overrides, 'replay-notified');
    state.notifications = [
      { on: ['failed', 'completed', 'batch-end'], webhook },
      { on: ['batch-end'], webhook: refused },
    ];
    const worker = await startWorker(server.env, taskQueue, 2);
    try {
      await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    } finally {
      await closeHttpServer(receiver);
    }
    return workflowIdsOf(state);
  },

  // Checkpoints (issue 21): exit 85 runs again using no retry, past maxRequeues a failure (patch id `requeue`).
  'replay-requeued': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-requeued');
    await writeScript(dir, 'exp1_requeues', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ] || exit 85' });
    await writeScript(dir, 'exp2_always', journal, { body: 'exit 85' });
    const { taskQueue, state } = await batchIn(dir, { maxRetries: 0, maxRequeues: 1 }, 'replay-requeued');
    const worker = await startWorker(server.env, taskQueue, 2);
    await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    return workflowIdsOf(state);
  },

  // Issue 22: a run's clean exit frees its place before its experiment closes (patch id `place-freed-on-clean-exit`),
  // across continue-as-new runs and with a retried experiment.
  'replay-freed-place': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-freed-place');
    for (let i = 1; i <= 4; i++) await writeScript(dir, `exp${i}_fine`, journal, { body: 'sleep 0.3' });
    await writeScript(dir, 'exp5_flaky', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ]' });
    const overrides = { maxConcurrent: 2, maxRetries: 1, historyLimit: 20 };
    const { taskQueue, state } = await batchIn(dir, overrides, 'replay-freed-place');
    const worker = await startWorker(server.env, taskQueue, 2);
    await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    return workflowIdsOf(state);
  },

  // Issue 22: places freed together where worker slots were free are refilled in one workflow task (`refill-at-once`).
  'replay-refill-at-once': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-refill-at-once');
    const gate = await closedGate(dir);
    for (let i = 1; i <= 4; i++) await writeScript(dir, `exp${i}_gated`, journal, { body: gate.wait });
    for (let i = 5; i <= 8; i++) await writeScript(dir, `exp${i}_next`, journal, { body: 'sleep 0.2' });
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 4 }, 'replay-refill-at-once');
    const worker = await startWorker(server.env, taskQueue, 8);
    await worker.runUntil(async () => {
      const handle = await startBatch(server.env, state);
      await until(async () => (await gate.waiting()) === 4, 30_000, 'the gated four to wait at the gate');
      await gate.open();
      return batchSummary(handle);
    });
    return workflowIdsOf(state);
  },

  // Experiments started at version 1 take the four patches before it with no marker (EXPERIMENT_VERSION).
  'replay-unmarked': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-unmarked');
    const acquire = `"${path.join(PYTHON_DIR, 'bin', 'staged-quota')}" acquire api 2`;
    await writeScript(dir, 'exp1_api', journal, { title: 'exp1_api\n# Quota: api', body: acquire });
    await writeScript(dir, 'exp2_flaky', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ]' });
    await writeScript(dir, 'exp3_requeues', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ] || exit 85' });
    const quotas = { api: { limit: 100, windowMs: 1_000, hosts: ['api.example'], maxConcurrent: 1 } };
    const overrides = { maxConcurrent: 2, maxRetries: 1, maxRequeues: 1, quotas };
    const { taskQueue, state } = await batchIn(dir, overrides, 'replay-unmarked');
    const worker = await startWorker(server.env, taskQueue, 2);
    await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    return [...workflowIdsOf(state), budgetWorkflowId(taskQueue, 'api')];
  },

  // A retry waiting its delay when --max-retries is lowered below its failed runs (patch id `lowered-max-retries`).
  'replay-lowered-max-retries': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-lowered-max-retries');
    await writeScript(dir, 'exp1_failing', journal, { body: 'exit 3' });
    const overrides = { maxRetries: 2, retryDelayMs: 15_000 };
    const { taskQueue, state } = await batchIn(dir, overrides, 'replay-lowered-max-retries');
    const worker = await startWorker(server.env, taskQueue, 2);
    await worker.runUntil(async () => {
      const handle = await startBatch(server.env, state);
      const retrying = async () => (await queryBatchState(handle)).records[0]?.status === 'retrying';
      await until(retrying, 30_000, 'the retry to wait its delay');
      const env = { TEMPORAL_ADDRESS: server.env.address };
      await execa(process.execPath, [CLI, 'change', state.batchId, '--max-retries', '0'], { env });
      return batchSummary(handle);
    });
    return workflowIdsOf(state);
  },

  'replay-adopted': async () => {
    const { dir, journal } = await tempExperimentsDir('replay-adopted');
    await writeScript(dir, 'exp1_survives', journal, { body: 'sleep 4' });
    const overrides = { maxRetries: 0, heartbeatTimeoutMs: 2_000, killGraceMs: 1_000 };
    const { taskQueue, state } = await batchIn(dir, overrides, 'replay-adopted');
    let worker = await spawnWorker(server.env.address, taskQueue, 2);
    const handle = await startBatch(server.env, state);
    await until(async () => (await readJournal(journal)).length > 0, 30_000, 'the run to start');
    worker.kill('SIGKILL');
    worker = await spawnWorker(server.env.address, taskQueue, 2);
    try {
      await batchSummary(handle);
    } finally {
      worker.kill('SIGTERM');
    }
    return workflowIdsOf(state);
  },
};

test('recorded batch and experiment histories replay against the current workflow code', async () => {
  if (recording) {
    const recorded = await readdir(FIXTURES);
    for (const [scenario, record] of Object.entries(SCENARIOS)) {
      if (!recorded.some((file) => file.startsWith(scenario))) await saveHistories(await record());
    }
  }
  const replay = await execa(process.execPath, [REPLAYER, FIXTURES], { reject: false });
  const lines = String(replay.stdout).split('\n').filter(Boolean);
  expect(lines.filter((line) => line.startsWith('FAIL'))).toEqual([]);
  const files = (await readdir(FIXTURES)).filter((file) => file.endsWith('.bin'));
  expect(lines.filter((line) => line.startsWith('OK'))).toHaveLength(files.length);
  for (const scenario of Object.keys(SCENARIOS)) expect(files.some((file) => file.startsWith(scenario))).toBe(true);
  expect(replay.exitCode).toBe(0);
}, 180_000);
