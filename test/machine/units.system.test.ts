/**
 * GPU devices and named units with real workers on one real server, without GPUs: each run of `Requires: gpu`
 * gets devices of its own (CUDA_VISIBLE_DEVICES, STAGED_GPUS), never one a live run holds, also across a worker
 * SIGKILL and adoption and between two workers of one machine; `gpu=auto` reads a fake `nvidia-smi` on PATH;
 * `port=9000..9001` hands out ports. Each script writes down what it saw, and the journal when it ran.
 */
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { batchSummary } from '../../src/batch-client/index.js';
import { workerCommand } from '../../src/cli/worker-command.js';
import type { RunStarted } from '../../src/keeper/run-files.js';
import { CLI, until, workerProcessesPerTest } from '../helpers/processes.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript, type JournalEntry } from '../helpers/scripts.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const startWorker = workerProcessesPerTest();

/** A machine's worker arguments: its id, its runs directory (shared by its workers), its resources. */
async function machineArgs(machineId: string, resources: string): Promise<string[]> {
  return ['--machine-id', machineId, '--runs-dir', await tempDir(`runs-${machineId}`), '--resources', resources];
}

/** What each run saw: `<experiment> <CUDA_VISIBLE_DEVICES> <STAGED_GPUS> <STAGED_PORT>` (`-` when unset). */
const recordUnits = (dir: string) =>
  `echo "$STAGED_EXPERIMENT \${CUDA_VISIBLE_DEVICES--} \${STAGED_GPUS--} \${STAGED_PORT--}" >> "${dir}/_units"`;
/** Runs until `_release` or `_release_<experiment>` exists. */
const waitForRelease = (dir: string) =>
  `while [ ! -e "${dir}/_release" ] && [ ! -e "${dir}/_release_$STAGED_EXPERIMENT" ]; do sleep 0.1; done`;

interface Seen {
  cuda: string;
  gpus: string;
  port: string;
}

async function unitsSeen(dir: string): Promise<Map<string, Seen>> {
  const text = await readFile(path.join(dir, '_units'), 'utf8').catch(() => '');
  const seen = new Map<string, Seen>();
  for (const line of text.split('\n').filter(Boolean)) {
    const [name, cuda, gpus, port] = line.split(' ');
    seen.set(name, { cuda, gpus, port });
  }
  return seen;
}

/** Each run's start and end, from the journal (a run still going ends at Infinity). */
function intervals(entries: JournalEntry[]): Map<string, { from: number; to: number }> {
  const runs = new Map<string, { from: number; to: number }>();
  for (const entry of entries) {
    if (entry.event === 'start') runs.set(entry.name, { from: entry.atMs, to: Infinity });
    if (entry.event === 'end') runs.get(entry.name)!.to = entry.atMs;
  }
  return runs;
}

/** Pairs of runs alive at one moment that saw the same value of `unit` (empty: none shared). */
function sharedUnits(entries: JournalEntry[], seen: Map<string, Seen>, unit: keyof Seen): string[] {
  const runs = [...intervals(entries)];
  const shared: string[] = [];
  for (const [i, [a, first]] of runs.entries()) {
    for (const [b, second] of runs.slice(i + 1)) {
      const overlap = first.from < second.to && second.from < first.to;
      const units = (name: string) => (seen.get(name)?.[unit] ?? '').split(',');
      if (overlap && units(a).some((value) => units(b).includes(value))) shared.push(`${a} & ${b}`);
    }
  }
  return shared;
}

/** Most runs alive at one moment. */
function mostAlive(entries: JournalEntry[]): number {
  const runs = [...intervals(entries).values()];
  return Math.max(0, ...runs.map(({ from }) => runs.filter((run) => run.from <= from && from < run.to).length));
}

async function gpuScripts(dir: string, journal: string, names: string[], requires = 'gpu'): Promise<void> {
  for (const name of names) {
    await writeScript(dir, name, journal, {
      title: `${name}\n#\n# Requires: ${requires}`,
      body: `${recordUnits(dir)}; ${waitForRelease(dir)}`,
    });
  }
}

function staged(args: string[], cwd: string, taskQueue: string) {
  return execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}

const started = async (journal: string) => (await readJournal(journal)).filter((entry) => entry.event === 'start');

test('4 runs of Requires: gpu on gpu=0,1 at concurrency 4: two at a time, each on a device of its own', async () => {
  const { dir, journal } = await tempExperimentsDir('units-gpu');
  const names = ['exp1_gpu_a', 'exp2_gpu_b', 'exp3_gpu_c', 'exp4_gpu_d'];
  await gpuScripts(dir, journal, names);
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 4 });
  await startWorker(server.env.address, taskQueue, 4, await machineArgs('gpu-box', 'gpu=0,1'));
  const handle = await startBatch(server.env, state);

  await until(async () => (await unitsSeen(dir)).size === 2, 60_000, 'two GPU runs to start');
  const first = await unitsSeen(dir);
  expect(new Set([...first.values()].map((seen) => seen.cuda))).toEqual(new Set(['0', '1']));
  for (const seen of first.values()) expect(seen.gpus).toBe(seen.cuda);
  // status shows each running run's devices
  await until(
    async () => {
      const status = await staged(['status', state.batchId], dir, taskQueue);
      return status.stdout.includes('gpu 0') && status.stdout.includes('gpu 1');
    },
    30_000,
    'status to show both runs\u2019 devices',
  );
  const json = await staged(['status', state.batchId, '--json'], dir, taskQueue);
  const running = (JSON.parse(json.stdout) as { experiments: { name: string; units?: unknown }[] }).experiments;
  for (const [name, seen] of first) {
    expect(running.find((experiment) => experiment.name === name)?.units).toEqual({ gpu: [seen.cuda] });
  }
  expect(await started(journal)).toHaveLength(2); // 4 slots, but 2 devices

  await writeFile(path.join(dir, '_release'), '');
  const summary = await batchSummary(handle);

  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(names.map(() => 'completed'));
  const entries = await readJournal(journal);
  const seen = await unitsSeen(dir);
  expect(seen.size).toBe(4);
  for (const { cuda } of seen.values()) expect(['0', '1']).toContain(cuda);
  expect(mostAlive(entries)).toBe(2);
  expect(sharedUnits(entries, seen, 'cuda')).toEqual([]);
});

test('a worker SIGKILLed holding gpu 0 and 1: the new one adopts both; a new run waits for one to end', async () => {
  const { dir, journal } = await tempExperimentsDir('units-adopt');
  const names = ['exp1_gpu_a', 'exp2_gpu_b', 'exp3_gpu_c'];
  await gpuScripts(dir, journal, names);
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 3, heartbeatTimeoutMs: 2_000 });
  const box = await machineArgs('gpu-box', 'gpu=0,1');
  const crashing = await startWorker(server.env.address, taskQueue, 3, box);
  const handle = await startBatch(server.env, state);
  await until(async () => (await unitsSeen(dir)).size === 2, 60_000, 'two GPU runs to start');
  const holders = await unitsSeen(dir);

  crashing.kill('SIGKILL');
  await crashing.exited();
  const restarted = await startWorker(server.env.address, taskQueue, 3, box);
  for (const name of holders.keys()) {
    await until(() => heldBy(`${state.batchId}/${name}`, restarted.pid), 60_000, `the new worker to adopt ${name}`);
  }
  // The third is not started while both devices are held (its own activity waits, heartbeating)
  const third = names.find((name) => !holders.has(name))!;
  expect((await unitsSeen(dir)).has(third)).toBe(false);
  const [ending, endingSeen] = [...holders][0];
  await writeFile(path.join(dir, `_release_${ending}`), '');
  await until(async () => (await unitsSeen(dir)).has(third), 60_000, 'the third run to start');
  expect((await unitsSeen(dir)).get(third)?.cuda).toBe(endingSeen.cuda);

  await writeFile(path.join(dir, '_release'), '');
  const summary = await batchSummary(handle);
  expect(summary.experiments.map((experiment) => [experiment.status, experiment.attempts])).toEqual(
    names.map(() => ['completed', 1]),
  );
  const entries = await readJournal(journal);
  expect(entries.filter((entry) => entry.event === 'start')).toHaveLength(3);
  expect(sharedUnits(entries, await unitsSeen(dir), 'cuda')).toEqual([]);
});

test('two workers of one machine never hand out the same device', async () => {
  const { dir, journal } = await tempExperimentsDir('units-two-workers');
  const names = ['exp1_gpu_a', 'exp2_gpu_b', 'exp3_gpu_c', 'exp4_gpu_d', 'exp5_gpu_e', 'exp6_gpu_f'];
  for (const name of names) {
    await writeScript(dir, name, journal, {
      title: `${name}\n#\n# Requires: gpu`,
      body: `${recordUnits(dir)}; sleep 1`,
    });
  }
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 6 });
  const box = await machineArgs('gpu-box', 'gpu=0,1');
  await startWorker(server.env.address, taskQueue, 3, box);
  await startWorker(server.env.address, taskQueue, 3, box);

  const summary = await batchSummary(await startBatch(server.env, state));

  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(names.map(() => 'completed'));
  const entries = await readJournal(journal);
  expect(mostAlive(entries)).toBeLessThanOrEqual(2);
  expect(sharedUnits(entries, await unitsSeen(dir), 'cuda')).toEqual([]);
});

test("gpu=auto: the GPUs nvidia-smi -L lists within the worker's CUDA_VISIBLE_DEVICES; bad lists exit 2", async () => {
  const bin = await tempDir('fake-nvidia-smi');
  const smi = path.join(bin, 'nvidia-smi');
  const listing = [0, 1, 2, 3].map((index) => `GPU ${index}: Fake GPU (UUID: GPU-fake-${index})`).join('\n');
  await writeFile(smi, `#!/bin/sh\n[ "$1" = "-L" ] || exit 9\necho "$(cat "${bin}/listing")"\n`);
  await writeFile(path.join(bin, 'listing'), listing);
  await chmod(smi, 0o755);
  const { dir, journal } = await tempExperimentsDir('units-auto');
  const names = ['exp1_gpu_a', 'exp2_gpu_b', 'exp3_gpu_c'];
  await gpuScripts(dir, journal, names);
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 3 });
  const withFake = { PATH: `${bin}:${process.env.PATH}`, CUDA_VISIBLE_DEVICES: '1,2,3' };
  const saved = { PATH: process.env.PATH, CUDA_VISIBLE_DEVICES: process.env.CUDA_VISIBLE_DEVICES };
  Object.assign(process.env, withFake); // the worker process inherits them
  try {
    await startWorker(server.env.address, taskQueue, 3, await machineArgs('auto-box', 'gpu=auto'));
  } finally {
    process.env.PATH = saved.PATH;
    if (saved.CUDA_VISIBLE_DEVICES === undefined) delete process.env.CUDA_VISIBLE_DEVICES;
    else process.env.CUDA_VISIBLE_DEVICES = saved.CUDA_VISIBLE_DEVICES;
  }
  const handle = await startBatch(server.env, state);
  // All three alive at once (each runs until released), each on a device of the worker's list of its own.
  await until(async () => (await unitsSeen(dir)).size === 3, 120_000, 'the three GPU runs to start');
  expect(new Set([...(await unitsSeen(dir)).values()].map((run) => run.cuda))).toEqual(new Set(['1', '2', '3']));
  await writeFile(path.join(dir, '_release'), '');
  const summary = await batchSummary(handle);
  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(names.map(() => 'completed'));

  const worker = (env: Record<string, string>, resources = 'gpu=auto') =>
    execa(process.execPath, workerCommand(['--resources', resources, '--runs-dir', bin]), {
      env: { TEMPORAL_ADDRESS: server.env.address, ...env },
      extendEnv: false,
      reject: false,
    });
  const outside = await worker({ CUDA_VISIBLE_DEVICES: '2,3' }, 'gpu=0,1');
  expect([outside.exitCode, outside.stderr]).toEqual([2, expect.stringContaining("not in this worker's CUDA_VISIBLE")]);
  const taken = await worker({}, 'attempt=0,1');
  expect([taken.exitCode, taken.stderr]).toEqual([2, expect.stringContaining('STAGED_ATTEMPT is staged')]);
  const absent = await worker({ PATH: '/nonexistent' });
  expect([absent.exitCode, absent.stderr]).toEqual([2, expect.stringContaining('gpu=auto: nvidia-smi is not on PATH')]);
  await writeFile(path.join(bin, 'listing'), 'No devices were found');
  const none = await worker(withFake);
  expect([none.exitCode, none.stderr]).toEqual([2, expect.stringContaining('nvidia-smi -L lists no GPU')]);
});

test("a run's keeper killed (kill -9) on a 1-GPU machine: the run is lost, and the next run gets the GPU", async () => {
  const { dir, journal } = await tempExperimentsDir('units-keeper-killed');
  const firstRun = path.join(dir, '_first_run');
  await writeScript(dir, 'exp1_gpu_a', journal, {
    title: 'exp1_gpu_a\n#\n# Requires: gpu',
    body: `${recordUnits(dir)}; if [ ! -e "${firstRun}" ]; then touch "${firstRun}"; ${waitForRelease(dir)}; fi`,
  });
  const { taskQueue, state } = await batchIn(dir);
  const runsRoot = await tempDir('runs-one-gpu');
  await startWorker(server.env.address, taskQueue, 2, ['--runs-dir', runsRoot, '--resources', 'gpu=1']);
  const handle = await startBatch(server.env, state);
  // Waiting for its release: killed before it marked its first run, run 2 took itself for the first and waited too.
  await until(() => existsSync(firstRun), 60_000, 'the run to start and wait');
  const keeperPid = (await runStates(runsRoot))[0].keeperPid;
  process.kill(keeperPid, 'SIGKILL');

  const summary = await batchSummary(handle);
  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(['completed']);
  const lines = (await readFile(path.join(dir, '_units'), 'utf8')).trim().split('\n');
  expect(lines).toEqual(['exp1_gpu_a 0 0 -', 'exp1_gpu_a 0 0 -']); // the second run, on the GPU the first held
});

test('port=9000..9001: each run gets STAGED_PORT of its own', async () => {
  const { dir, journal } = await tempExperimentsDir('units-port');
  const names = ['exp1_port_a', 'exp2_port_b', 'exp3_port_c'];
  await gpuScripts(dir, journal, names, 'port');
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 3 });
  await startWorker(server.env.address, taskQueue, 3, await machineArgs('port-box', 'port=9000..9001'));
  const handle = await startBatch(server.env, state);
  await until(async () => (await unitsSeen(dir)).size === 2, 60_000, 'two runs to start');
  const first = await unitsSeen(dir);
  expect(new Set([...first.values()].map((run) => run.port))).toEqual(new Set(['9000', '9001']));
  for (const run of first.values()) expect(run.cuda).toBe('-'); // no GPU units on this machine: left alone

  await writeFile(path.join(dir, '_release'), '');
  const summary = await batchSummary(handle);
  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(names.map(() => 'completed'));
  const entries = await readJournal(journal);
  expect(sharedUnits(entries, await unitsSeen(dir), 'port')).toEqual([]);
});

/** What the keepers of the runs under `runsRoot` recorded (`state.json`). */
async function runStates(runsRoot: string): Promise<RunStarted[]> {
  const files = (await readdir(runsRoot, { recursive: true })).filter((file) => path.basename(file) === 'state.json');
  return Promise.all(files.map(async (file) => JSON.parse(await readFile(path.join(runsRoot, file), 'utf8'))));
}

/** Whether the experiment's run is held now by the worker process `pid` (its identity starts with `<pid>@`). */
async function heldBy(workflowId: string, pid: number): Promise<boolean> {
  const { raw } = await server.env.client.workflow.getHandle(workflowId).describe();
  return Boolean(raw.pendingActivities?.[0]?.lastWorkerIdentity?.startsWith(`${pid}@`));
}
