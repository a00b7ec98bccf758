/**
 * Machine resources with real workers on one real server: runs needing a GPU go only to the machine that
 * has one, never more at once than it has; `status` says when no live worker has what a queued run needs;
 * a malformed `Requires:` line or `--resources` is bad input. Each worker is a machine of its own (machine
 * id, runs directory); each script writes down the machine it ran on (STAGED_MACHINE_ID).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { batchSummary, findBatch } from '../../src/batch-client/index.js';
import { workerCommand } from '../../src/cli/worker-command.js';
import { until, workerProcessesPerTest } from '../helpers/processes.js';
import { maxOverlap, readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';

const CLI = fileURLToPath(new URL('../../src/client.js', import.meta.url));
const server = useTestServer();

const startWorker = workerProcessesPerTest();

/** A worker process as a machine of its own: its machine id, its runs directory, its resources. */
async function machine(taskQueue: string, machineId: string, slots: number, resources?: string) {
  const runsDir = await tempDir(`runs-${machineId}`);
  const extra = ['--machine-id', machineId, '--runs-dir', runsDir, ...(resources ? ['--resources', resources] : [])];
  return startWorker(server.env.address, taskQueue, slots, extra);
}

/** `<experiment> <machine id>` per run, written by the scripts themselves. */
async function machinesOf(dir: string): Promise<Map<string, string>> {
  const text = await readFile(path.join(dir, '_machines'), 'utf8').catch(() => '');
  return new Map(
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ') as [string, string]),
  );
}

const recordMachine = (dir: string) => `echo "$STAGED_EXPERIMENT $STAGED_MACHINE_ID" >> "${dir}/_machines"`;

function staged(args: string[], cwd: string, taskQueue: string) {
  return execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}

test('GPU runs go only to the GPU machine, one at a time there; the others spread over both machines', async () => {
  const { dir, journal } = await tempExperimentsDir('resources-gpu');
  for (const name of ['exp1_gpu_a', 'exp2_gpu_b', 'exp3_gpu_c']) {
    await writeScript(dir, name, journal, {
      title: `${name}\n#\n# Requires: gpu`,
      body: `${recordMachine(dir)}; sleep 1`,
    });
  }
  // Three plain runs alive at once need both machines (2 slots each): each waits until three have started.
  const barrier = path.join(dir, '_barrier');
  const waitForThree =
    `echo x >> "${barrier}"; for i in $(seq 600); do [ "$(wc -l < "${barrier}")" -ge 3 ] && break; sleep 0.1; done; ` +
    `[ "$(wc -l < "${barrier}")" -ge 3 ]`;
  for (const name of ['exp4_cpu_a', 'exp5_cpu_b', 'exp6_cpu_c', 'exp7_cpu_d']) {
    await writeScript(dir, name, journal, { body: `${recordMachine(dir)}; ${waitForThree}` });
  }
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 7 });
  await machine(taskQueue, 'gpu-box', 2, 'gpu=1');
  await machine(taskQueue, 'cpu-box', 2);

  const summary = await batchSummary(await startBatch(server.env, state));

  expect(summary.experiments.map((experiment) => [experiment.name, experiment.status])).toEqual(
    state.experiments.map((experiment) => [experiment.name, 'completed']),
  );
  const ranOn = await machinesOf(dir);
  expect(['exp1_gpu_a', 'exp2_gpu_b', 'exp3_gpu_c'].map((name) => ranOn.get(name))).toEqual([
    'gpu-box',
    'gpu-box',
    'gpu-box',
  ]);
  const gpuRuns = (await readJournal(journal)).filter((entry) => entry.name.includes('_gpu_'));
  expect(gpuRuns).toHaveLength(6);
  expect(maxOverlap(gpuRuns)).toBe(1);
  const plainMachines = new Set(
    ['exp4_cpu_a', 'exp5_cpu_b', 'exp6_cpu_c', 'exp7_cpu_d'].map((name) => ranOn.get(name)),
  );
  expect(plainMachines).toEqual(new Set(['gpu-box', 'cpu-box']));
});

test('status says when no live worker has what a queued run needs; it runs once a worker with it starts', async () => {
  const { dir, journal } = await tempExperimentsDir('resources-wait');
  await writeScript(dir, 'exp1_tpu', journal, { title: 'exp1_tpu\n#\n# Requires: tpu=2', body: recordMachine(dir) });
  await writeScript(dir, 'exp2_plain', journal, { body: recordMachine(dir) });
  const { taskQueue, state } = await batchIn(dir);
  await machine(taskQueue, 'cpu-box', 2);
  const smallTpuBox = await machine(taskQueue, 'small-tpu-box', 2, 'tpu=1');
  const handle = await startBatch(server.env, state);
  const waitLine = '[WAIT] exp1_tpu needs tpu=2: no live worker has it (live workers have at most: tpu=1)';

  await until(async () => (await machinesOf(dir)).has('exp2_plain'), 60_000, 'the plain experiment to run');
  const text = await staged(['status', state.batchId], dir, taskQueue);
  expect([text.exitCode, text.stdout]).toEqual([0, expect.stringContaining(waitLine)]);
  const json = await staged(['status', state.batchId, '--json'], dir, taskQueue);
  expect(JSON.parse(json.stdout).waiting).toEqual([
    { name: 'exp1_tpu', needs: 'tpu=2', reason: 'no live worker has it (live workers have at most: tpu=1)' },
  ]);
  expect((await machinesOf(dir)).has('exp1_tpu')).toBe(false);

  smallTpuBox.kill('SIGTERM');
  await smallTpuBox.exited();
  await machine(taskQueue, 'tpu-box', 1, 'tpu=2');
  const summary = await batchSummary(handle);
  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(['completed', 'completed']);
  expect((await machinesOf(dir)).get('exp1_tpu')).toBe('tpu-box');
});

test('a malformed Requires: line is exit 2 naming file and line, nothing started; a bad --resources too', async () => {
  const { dir, journal } = await tempExperimentsDir('resources-bad');
  await writeScript(dir, 'exp1_fine', journal);
  await writeScript(dir, 'exp2_bad', journal, { title: 'exp2_bad\n#\n# Requires: gpu=two' });
  const batchId = `bad-requires-${Math.random().toString(36).slice(2)}`;

  const submit = await staged(['submit', '--dir', '.', '--batch-id', batchId], dir, 'bad-requires');

  expect(submit.exitCode).toBe(2);
  expect(submit.stderr).toContain(
    `${path.join(dir, 'exp2_bad.sh')}:4: malformed line "Requires: gpu=two": "two" is not an amount`,
  );
  expect(await findBatch(server.env.client, batchId)).toBeUndefined();
  expect(existsSync(path.join(dir, 'results', batchId))).toBe(false);
  expect(await readJournal(journal)).toEqual([]);

  const worker = await execa(process.execPath, workerCommand(['--resources', 'gpu=2,mem=16Q']), {
    env: { TEMPORAL_ADDRESS: server.env.address },
    reject: false,
  });
  expect(worker.exitCode).toBe(2);
  expect(worker.stderr).toContain('--resources: "16Q" is not an amount');
});

/** Whether the experiment's run is held now by the worker process `pid` (its identity starts with `<pid>@`). */
async function heldBy(workflowId: string, pid: number): Promise<boolean> {
  const { raw } = await server.env.client.workflow.getHandle(workflowId).describe();
  const pending = raw.pendingActivities?.[0];
  return Boolean(pending?.lastWorkerIdentity?.startsWith(`${pid}@`));
}

test('a GPU run adopted by a worker restarted on its machine keeps its GPU: the next one waits for it', async () => {
  const { dir, journal } = await tempExperimentsDir('resources-adopt');
  const release = path.join(dir, '_release');
  for (const name of ['exp1_gpu_first', 'exp2_gpu_next']) {
    await writeScript(dir, name, journal, {
      title: `${name}\n#\n# Requires: gpu`,
      body: `${recordMachine(dir)}; while [ ! -e "${release}" ]; do sleep 0.1; done`,
    });
  }
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 2 });
  const runsDir = await tempDir('runs-gpu-box');
  const gpuBox = ['--machine-id', 'gpu-box', '--runs-dir', runsDir, '--resources', 'gpu=1'];
  const crashing = await startWorker(server.env.address, taskQueue, 2, gpuBox);
  const handle = await startBatch(server.env, state);
  await until(async () => (await readJournal(journal)).length > 0, 60_000, 'a GPU run to start');
  const [first] = await readJournal(journal);

  crashing.kill('SIGKILL');
  await crashing.exited();
  const restarted = await startWorker(server.env.address, taskQueue, 2, gpuBox);
  const workflowId = `${state.batchId}/${first.name}`;
  await until(() => heldBy(workflowId, restarted.pid), 60_000, 'the restarted worker to adopt the run');
  await writeFile(release, '');
  const summary = await batchSummary(handle);

  expect(summary.experiments.map((experiment) => [experiment.status, experiment.attempts])).toEqual([
    ['completed', 1],
    ['completed', 1],
  ]);
  const entries = await readJournal(journal);
  expect(entries.filter((entry) => entry.event === 'start')).toHaveLength(2);
  expect(maxOverlap(entries)).toBe(1);
});

test('runs adopted by a worker restarted on their machine keep its slots: queued runs wait for them', async () => {
  const { dir, journal } = await tempExperimentsDir('slots-adopt');
  const release = path.join(dir, '_release');
  const names = ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d'];
  for (const name of names) {
    await writeScript(dir, name, journal, { body: `while [ ! -e "${release}" ]; do sleep 0.1; done` });
  }
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 4, heartbeatTimeoutMs: 2_000 });
  const box = ['--machine-id', 'box', '--runs-dir', await tempDir('runs-box')];
  const crashing = await startWorker(server.env.address, taskQueue, 2, box);
  const handle = await startBatch(server.env, state);
  await until(async () => (await readJournal(journal)).length === 2, 60_000, 'two runs to start');
  const running = (await readJournal(journal)).map((entry) => `${state.batchId}/${entry.name}`);

  crashing.kill('SIGKILL');
  await crashing.exited();
  const restarted = await startWorker(server.env.address, taskQueue, 2, box);
  for (const workflowId of running) {
    await until(() => heldBy(workflowId, restarted.pid), 60_000, 'the restarted worker to adopt both runs');
  }
  expect(await readJournal(journal)).toHaveLength(2); // both slots taken by the runs it adopts: nothing new
  await writeFile(release, '');
  const summary = await batchSummary(handle);

  expect(summary.experiments.map((experiment) => [experiment.status, experiment.attempts])).toEqual(
    names.map(() => ['completed', 1]),
  );
  const entries = await readJournal(journal);
  expect(entries.filter((entry) => entry.event === 'start')).toHaveLength(4);
  expect(maxOverlap(entries)).toBe(2);
});
