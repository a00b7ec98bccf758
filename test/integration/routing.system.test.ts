/**
 * A run goes to a worker that can take it, and waiting for one blocks nothing else: with real workers on one real
 * server, runs of a directory only one worker serves (`--allow-dir`) reach that worker, and experiments waiting for
 * a GPU leave the batch's places to experiments that can run. Each worker is a machine of its own.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { batchSummary } from '../../src/batch-client/index.js';
import { CLI, spawnWorker, until, type WorkerProcess } from '../helpers/processes.js';
import { maxOverlap, readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startBatch, uniqueQueue, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();

const workers: WorkerProcess[] = [];
afterEach(() => {
  for (const worker of workers.splice(0)) worker.kill('SIGKILL');
});

/** A worker process as a machine of its own (or beside another, given its runs directory), serving only `allowDirs`. */
async function machine(
  taskQueue: string,
  machineId: string,
  slots: number,
  allowDirs: string[],
  resources?: string,
  runsDir?: string,
) {
  runsDir ??= await tempDir(`runs-${machineId}`);
  const extra = ['--machine-id', machineId, '--runs-dir', runsDir, ...(resources ? ['--resources', resources] : [])];
  const worker = await spawnWorker(server.env.address, taskQueue, slots, extra, { allowDirs });
  workers.push(worker);
  return worker;
}

const recordMachine = (dir: string) => `echo "$STAGED_EXPERIMENT $STAGED_MACHINE_ID" >> "${dir}/_machines"`;

async function machinesOf(dir: string): Promise<Map<string, string>> {
  const text = await readFile(path.join(dir, '_machines'), 'utf8').catch(() => '');
  return new Map(
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ') as [string, string]),
  );
}

async function experimentsIn(prefix: string, names: string[]) {
  const made = await tempExperimentsDir(prefix);
  for (const name of names) await writeScript(made.dir, name, made.journal, { body: `${recordMachine(made.dir)}` });
  return made;
}

test.each([
  ['two machines', false],
  ['one machine', true],
])(
  'two workers serving different directories on one queue (%s): every run reaches the one that serves it',
  async (_, oneMachine) => {
    const names = ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d'];
    const left = await experimentsIn('routing-left', names);
    const right = await experimentsIn('routing-right', names);
    const taskQueue = uniqueQueue();
    const runsDir = oneMachine ? await tempDir('runs-shared') : undefined;
    await machine(taskQueue, oneMachine ? 'box' : 'left-box', 4, [left.dir], undefined, runsDir);
    await machine(taskQueue, oneMachine ? 'box' : 'right-box', 4, [right.dir], undefined, runsDir);
    const batches = await Promise.all(
      [left, right].map(async ({ dir }) => (await batchIn(dir, { taskQueue, maxConcurrent: 4 })).state),
    );

    const summaries = await Promise.all(
      batches.map(async (state) => batchSummary(await startBatch(server.env, state))),
    );

    for (const summary of summaries) {
      expect(
        summary.experiments.map((experiment) => [experiment.name, experiment.status, experiment.attempts]),
      ).toEqual(names.map((name) => [name, 'completed', 1]));
    }
    for (const [{ dir, journal }, box] of [
      [left, 'left-box'],
      [right, 'right-box'],
    ] as const) {
      const starts = (await readJournal(journal)).filter((entry) => entry.event === 'start');
      expect(starts.map((entry) => entry.name).sort()).toEqual(names);
      expect([...(await machinesOf(dir)).values()]).toEqual(names.map(() => (oneMachine ? 'box' : box)));
    }
  },
);

function staged(args: string[], cwd: string, taskQueue: string) {
  return execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}

test('submit says at once that no live worker serves the directory; the runs wait for one that does', async () => {
  const { dir, journal } = await experimentsIn('routing-unserved', ['exp1_only']);
  const elsewhere = await tempDir('routing-elsewhere');
  const taskQueue = uniqueQueue();
  await machine(taskQueue, 'elsewhere-box', 2, [elsewhere]);

  const submitted = await staged(['submit', '--dir', '.', '--detach', '--json'], dir, taskQueue);

  expect(submitted.exitCode).toBe(0);
  expect(submitted.stderr).toContain(`[WAIT] no live worker on task queue "${taskQueue}" serves ${dir}`);
  expect(submitted.stderr).toContain(`its runs wait for a worker started with --allow-dir ${dir}`);
  const { batchId } = JSON.parse(submitted.stdout) as { batchId: string };
  const waitLine = `[WAIT] exp1_only needs a worker serving ${dir}: no live worker on task queue "${taskQueue}" serves`;
  let status = '';
  await until(
    async () => (status = (await staged(['status', batchId], dir, taskQueue)).stdout).includes(waitLine),
    60_000,
    'status to say why the run waits',
  ).catch(() => expect(status).toContain(waitLine));
  expect(await readJournal(journal)).toEqual([]);
  await machine(taskQueue, 'serving-box', 2, [dir]);
  const summary = await batchSummary(server.env.client.workflow.getHandle(batchId));
  expect(summary.experiments.map((experiment) => [experiment.status, experiment.attempts])).toEqual([['completed', 1]]);
  expect((await readJournal(journal)).filter((entry) => entry.event === 'start')).toHaveLength(1);
  expect((await machinesOf(dir)).get('exp1_only')).toBe('serving-box');
});

test('experiments waiting for a GPU hold no places: at cap 3 the CPU machine runs 3 at a time', async () => {
  const { dir, journal } = await tempExperimentsDir('routing-gpu-wait');
  for (const name of ['exp1_gpu_a', 'exp2_gpu_b']) {
    await writeScript(dir, name, journal, { title: `${name}\n#\n# Requires: gpu`, body: 'sleep 0.2' });
  }
  const cpuNames = ['exp3_cpu_a', 'exp4_cpu_b', 'exp5_cpu_c', 'exp6_cpu_d', 'exp7_cpu_e', 'exp8_cpu_f'];
  for (const name of cpuNames) await writeScript(dir, name, journal, { body: 'sleep 2' });
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 3 });
  await machine(taskQueue, 'cpu-box', 4, [dir]);
  const handle = await startBatch(server.env, state);

  const cpuEnded = async () =>
    (await readJournal(journal)).filter((entry) => entry.event === 'end' && cpuNames.includes(entry.name)).length;
  await until(async () => (await cpuEnded()) === cpuNames.length, 120_000, 'the CPU experiments to end');
  const cpuRuns = (await readJournal(journal)).filter((entry) => cpuNames.includes(entry.name));
  expect(maxOverlap(cpuRuns)).toBe(3);

  await machine(taskQueue, 'gpu-box', 1, [dir], 'gpu=1');
  const summary = await batchSummary(handle);
  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(state.experiments.map(() => 'completed'));
  expect(maxOverlap(await readJournal(journal))).toBeLessThanOrEqual(3);
});

test('with the GPU busy, the batch still runs 3 at once at cap 3, never more, also when the GPU frees', async () => {
  const { dir, journal } = await tempExperimentsDir('routing-gpu-busy');
  // The GPU frees at about 8 s, while two CPU runs started at about 5 s still run: one more start would make 4.
  await writeScript(dir, 'exp1_gpu_long', journal, { title: 'exp1_gpu_long\n#\n# Requires: gpu', body: 'sleep 8' });
  await writeScript(dir, 'exp2_gpu_next', journal, { title: 'exp2_gpu_next\n#\n# Requires: gpu', body: 'sleep 2' });
  const cpuNames = ['exp3_cpu_a', 'exp4_cpu_b', 'exp5_cpu_c', 'exp6_cpu_d', 'exp7_cpu_e', 'exp8_cpu_f'];
  for (const name of cpuNames) await writeScript(dir, name, journal, { body: 'sleep 5' });
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 3 });
  await machine(taskQueue, 'gpu-box', 3, [dir], 'gpu=1');
  await machine(taskQueue, 'cpu-box', 3, [dir]);

  const summary = await batchSummary(await startBatch(server.env, state));

  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(state.experiments.map(() => 'completed'));
  const entries = await readJournal(journal);
  expect(maxOverlap(entries)).toBe(3);
  const gpuStarts = entries.filter((entry) => entry.event === 'start' && entry.name.includes('_gpu_'));
  expect(gpuStarts).toHaveLength(2);
  const firstGpuEnd = entries.find((entry) => entry.event === 'end' && entry.name === 'exp1_gpu_long')!;
  const cpuWhileGpuBusy = new Set(
    entries
      .filter((entry) => entry.event === 'start' && cpuNames.includes(entry.name) && entry.atMs < firstGpuEnd.atMs)
      .map((entry) => entry.name),
  );
  expect(maxOverlap(entries.filter((entry) => cpuWhileGpuBusy.has(entry.name)))).toBe(2);
});
