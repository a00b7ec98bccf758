/** What a machine's run directories say about each run: real directories, real keepers. */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { machineRuns, type MachineRun } from '../../src/machine/machine-runs.js';
import { RunFiles } from '../../src/keeper/run-files.js';
import { tempDir } from '../helpers/scripts.js';
import { deadPid, startKeptRun, stopKeptRuns, type KeptRun } from '../helpers/runs.js';

const kept: KeptRun[] = [];
afterEach(async () => {
  await stopKeptRuns(kept.splice(0));
});

async function scan(runsDir: string): Promise<Map<string, MachineRun>> {
  const runs = new Map<string, MachineRun>();
  for await (const run of machineRuns(runsDir)) runs.set(run.runKey, run);
  return runs;
}

test('a runs directory that does not exist yet holds no runs', async () => {
  expect(await scan(path.join(await tempDir('machine-runs-none'), 'runs'))).toEqual(new Map());
});

test('each run directory is one run, keyed by its name, whatever state it is in', async () => {
  const runsDir = await tempDir('machine-runs-all');
  const starting = RunFiles.of(runsDir, 'starting.run-1');
  await starting.claim();
  const running = await startKeptRun(runsDir, 'running.run-1', 'sleep 300');
  kept.push(running);
  const ended = RunFiles.of(runsDir, 'ended.run-1');
  await ended.claim();
  await ended.writeJson(ended.state, { keeperPid: await deadPid(), pid: 1, startedAt: Date.now(), killMode: 'cgroup' });
  await ended.writeJson(ended.exit, { end: 'exited', exitCode: 0, signal: null, endedAt: Date.now(), tail: [] });

  const runs = await scan(runsDir);

  expect([...runs.keys()].sort()).toEqual(['ended.run-1', 'running.run-1', 'starting.run-1']);
  expect(runs.get('starting.run-1')).toMatchObject({ started: undefined, ended: false, kept: false });
  expect(runs.get('running.run-1')).toMatchObject({ ended: false, kept: true });
  expect(runs.get('running.run-1')!.started!.keeperPid).toBe(running.keeperPid);
  expect(runs.get('running.run-1')!.files.dir).toBe(running.files.dir);
  expect(runs.get('ended.run-1')).toMatchObject({ ended: true, kept: false });
});

test('a started run whose keeper is gone is not kept, nor one whose keeper pid is now another process', async () => {
  const runsDir = await tempDir('machine-runs-orphans');
  const gone = RunFiles.of(runsDir, 'gone.run-1');
  await gone.claim();
  await gone.writeJson(gone.state, { keeperPid: await deadPid(), pid: 1, startedAt: Date.now(), killMode: 'cgroup' });
  const reused = RunFiles.of(runsDir, 'reused.run-1');
  await reused.claim();
  await reused.writeJson(reused.state, { keeperPid: process.pid, pid: 1, startedAt: Date.now(), killMode: 'cgroup' });

  const runs = await scan(runsDir);

  expect(runs.get('gone.run-1')).toMatchObject({ ended: false, kept: false });
  expect(runs.get('gone.run-1')!.started).toBeDefined();
  expect(runs.get('reused.run-1')).toMatchObject({ ended: false, kept: false });
});

test('a run is no longer kept once its keeper has recorded its end', async () => {
  const runsDir = await tempDir('machine-runs-end');
  const run = await startKeptRun(runsDir, 'short.run-1', 'sleep 0.3');

  await run.exit();

  expect((await scan(runsDir)).get('short.run-1')).toMatchObject({ ended: true, kept: false });
});

test('an ended run is read once, and a run key used again after its directory went is a new run', async () => {
  const runsDir = await tempDir('machine-runs-memo');
  const ended = RunFiles.of(runsDir, 'again.run-1');
  await ended.claim();
  await ended.writeJson(ended.state, { keeperPid: await deadPid(), pid: 7, startedAt: 1, killMode: 'cgroup' });
  await ended.writeJson(ended.exit, { end: 'exited', exitCode: 0, signal: null, endedAt: 2, tail: [] });
  expect((await scan(runsDir)).get('again.run-1')).toMatchObject({ ended: true, started: { pid: 7 } });

  // What its keeper recorded changed behind it: a second pass answers from the first read, not from the files.
  await ended.writeJson(ended.state, { keeperPid: await deadPid(), pid: 8, startedAt: 1, killMode: 'cgroup' });
  expect((await scan(runsDir)).get('again.run-1')).toMatchObject({ ended: true, kept: false, started: { pid: 7 } });

  await rm(ended.dir, { recursive: true });
  expect((await scan(runsDir)).has('again.run-1')).toBe(false);
  const reused = RunFiles.of(runsDir, 'again.run-1');
  await reused.claim();
  expect((await scan(runsDir)).get('again.run-1')).toMatchObject({ ended: false, started: undefined });
});
