/** `--slots` counts the runs that live on the machine, from their directories on disk; claims wait for a free slot. */
import { utimes } from 'node:fs/promises';
import { MachineSlots } from '../../src/machine/machine-slots.js';
import { RunFiles } from '../../src/keeper/run-files.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { deadPid, startKeptRun, stopKeptRuns, type KeptRun } from '../helpers/runs.js';

const kept: KeptRun[] = [];
afterEach(async () => {
  await stopKeptRuns(kept.splice(0));
});

const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 50));

async function runDir(runsDir: string, runKey: string): Promise<RunFiles> {
  const files = RunFiles.of(runsDir, runKey);
  await files.claim();
  return files;
}

test('counts runs with a live keeper and runs being started; not ended, orphaned or stale ones', async () => {
  const runsDir = await tempDir('slots-count');
  kept.push(await startKeptRun(runsDir, 'kept-a.run-1', 'sleep 300'));
  kept.push(await startKeptRun(runsDir, 'kept-b.run-1', 'sleep 300'));
  await runDir(runsDir, 'starting.run-1');
  const ended = await runDir(runsDir, 'ended.run-1');
  await ended.writeJson(ended.exit, { end: 'exited', exitCode: 0, signal: null, endedAt: Date.now(), tail: [] });
  const orphan = await runDir(runsDir, 'orphan.run-1');
  const keeperPid = await deadPid();
  await orphan.writeJson(orphan.state, { keeperPid, pid: 1, startedAt: Date.now(), killMode: 'cgroup' });
  // A directory left by a worker that died before its keeper started: older than any start takes.
  const stale = await runDir(runsDir, 'stale.run-1');
  const hourAgo = (Date.now() - 3_600_000) / 1000;
  await utimes(stale.dir, hourAgo, hourAgo);

  expect(await new MachineSlots(runsDir, 10).liveRuns()).toBe(3);
});

test('an empty or missing runs directory has every slot free', async () => {
  const runsDir = await tempDir('slots-empty');
  expect(await new MachineSlots(runsDir, 1).liveRuns()).toBe(0);
  expect(await new MachineSlots(`${runsDir}/missing`, 1).liveRuns()).toBe(0);
});

test('a claim runs at once while a slot is free, without waiting', async () => {
  const runsDir = await tempDir('slots-free');
  kept.push(await startKeptRun(runsDir, 'kept.run-1', 'sleep 300'));
  let waits = 0;

  const claimed = await new MachineSlots(runsDir, 2).claimWhenFree(
    () => Promise.resolve('claimed'),
    () => {
      waits++;
      return Promise.resolve();
    },
  );

  expect(claimed).toBe('claimed');
  expect(waits).toBe(0);
});

test('a claim waits while every slot is taken, and runs once a run has ended', async () => {
  const runsDir = await tempDir('slots-full');
  const running = await startKeptRun(runsDir, 'kept.run-1', 'sleep 300');
  kept.push(running);
  const slots = new MachineSlots(runsDir, 1);
  let waits = 0;
  let claimed = false;

  const claim = slots.claimWhenFree(
    () => Promise.resolve((claimed = true)),
    async () => {
      waits++;
      await pause();
    },
  );
  await until(() => waits >= 5, 10_000, 'the claim to check a few times');
  expect(claimed).toBe(false);

  await stopKeptRuns([running]);
  await claim;
  expect(claimed).toBe(true);
});

test("one worker's claims are made one at a time: the second sees the run the first started", async () => {
  const runsDir = await tempDir('slots-serial');
  const slots = new MachineSlots(runsDir, 1);
  const order: string[] = [];
  let first: RunFiles | undefined;

  const claimA = slots.claimWhenFree(async () => {
    first = await runDir(runsDir, 'a.run-1');
    order.push('a claimed');
  }, pause);
  const claimB = slots.claimWhenFree(
    () => {
      order.push('b claimed');
      return Promise.resolve();
    },
    async () => {
      if (!order.includes('b waited')) order.push('b waited');
      await pause();
    },
  );
  await claimA;
  await until(() => order.includes('b waited'), 10_000, 'the second claim to wait');
  order.push('a ends');
  await first!.writeJson(first!.exit, { end: 'exited', exitCode: 0, signal: null, endedAt: Date.now(), tail: [] });
  await claimB;

  expect(order).toEqual(['a claimed', 'b waited', 'a ends', 'b claimed']);
});

test('a claim that fails is reported to its caller and does not block the claims after it', async () => {
  const slots = new MachineSlots(await tempDir('slots-failed'), 1);

  await expect(slots.claimWhenFree(() => Promise.reject(new Error('could not start')), pause)).rejects.toThrow(
    'could not start',
  );
  await expect(slots.claimWhenFree(() => Promise.resolve('next'), pause)).resolves.toBe('next');
});
