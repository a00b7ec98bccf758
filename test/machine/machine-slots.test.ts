/**
 * `--slots` counts the runs that live on the machine: this worker's in the capacity ledger, the others (left over,
 * not adopted yet, or another worker's) from their directories on disk. Claims wait for a free slot.
 */
import { utimes } from 'node:fs/promises';
import { CapacityLedger, leftOverRuns, NO_RESOURCES, SLOTS } from '../../src/machine/capacity.js';
import { RunFiles } from '../../src/keeper/run-files.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { deadPid, startKeptRun, stopKeptRuns, type KeptRun } from '../helpers/runs.js';

const kept: KeptRun[] = [];
afterEach(async () => {
  await stopKeptRuns(kept.splice(0));
});

const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 50));
const holdsNone = () => false;

async function runDir(runsDir: string, runKey: string): Promise<RunFiles> {
  const files = RunFiles.of(runsDir, runKey);
  await files.claim();
  return files;
}

function ledgerOn(runsDir: string, slots: number): CapacityLedger {
  return new CapacityLedger(NO_RESOURCES, slots, (isHeld) => leftOverRuns(runsDir, isHeld));
}

test('counts runs with a live keeper and runs being started; not ended, orphaned or stale ones', async () => {
  const runsDir = await tempDir('slots-count');
  kept.push(await startKeptRun(runsDir, 'kept-a.run-1', 'sleep 300', { requires: { gpu: 1 } }));
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

  const runs = await leftOverRuns(runsDir, holdsNone);
  expect(new Map([...runs].sort())).toEqual(
    new Map([
      ['kept-a.run-1', { [SLOTS]: 1, gpu: 1 }],
      ['kept-b.run-1', { [SLOTS]: 1 }],
      ['starting.run-1', { [SLOTS]: 1 }],
    ]),
  );
  expect([...(await leftOverRuns(runsDir, (runKey) => runKey.startsWith('kept-'))).keys()]).toEqual(['starting.run-1']);
});

test('an empty or missing runs directory has every slot free', async () => {
  const runsDir = await tempDir('slots-empty');
  expect((await leftOverRuns(runsDir, holdsNone)).size).toBe(0);
  expect((await leftOverRuns(`${runsDir}/missing`, holdsNone)).size).toBe(0);
});

test('a claim is held at once while a slot is free, without waiting', async () => {
  const runsDir = await tempDir('slots-free');
  kept.push(await startKeptRun(runsDir, 'kept.run-1', 'sleep 300'));
  let waits = 0;

  const release = await ledgerOn(runsDir, 2).claim('new.run-1', 'q', {}, () => {
    waits++;
    return Promise.resolve();
  });

  expect(waits).toBe(0);
  release();
});

test('a claim waits while a run on disk takes every slot, and is held once that run has ended', async () => {
  const runsDir = await tempDir('slots-full');
  const running = await startKeptRun(runsDir, 'kept.run-1', 'sleep 300');
  kept.push(running);
  let waits = 0;
  let claimed = false;

  const claim = ledgerOn(runsDir, 1).claim('new.run-1', 'q', {}, async () => {
    waits++;
    await pause();
  });
  void claim.then(() => (claimed = true));
  await until(() => waits >= 5, 10_000, 'the claim to check a few times');
  expect(claimed).toBe(false);

  await stopKeptRuns([running]);
  (await claim)();
  expect(claimed).toBe(true);
});

test("one worker's claims are held one at a time: the second waits for the first run's slot", async () => {
  const runsDir = await tempDir('slots-serial');
  const ledger = ledgerOn(runsDir, 1);
  const order: string[] = [];

  const releaseA = await ledger.claim('a.run-1', 'q', {}, pause);
  const a = await runDir(runsDir, 'a.run-1'); // its directory on disk counts once: the ledger holds it
  order.push('a claimed');
  const claimB = ledger
    .claim('b.run-1', 'q', {}, async () => {
      if (!order.includes('b waited')) order.push('b waited');
      await pause();
    })
    .then((release) => {
      order.push('b claimed');
      return release;
    });
  await until(() => order.includes('b waited'), 10_000, 'the second claim to wait');
  order.push('a ends');
  await a.writeJson(a.exit, { end: 'exited', exitCode: 0, signal: null, endedAt: Date.now(), tail: [] });
  releaseA();
  (await claimB)();

  expect(order).toEqual(['a claimed', 'b waited', 'a ends', 'b claimed']);
});

test('a claim that is given up (the run was cancelled while it waited) holds nothing', async () => {
  const runsDir = await tempDir('slots-given-up');
  const ledger = ledgerOn(runsDir, 1);
  const releaseA = await ledger.claim('a.run-1', 'q', {}, pause);

  await expect(ledger.claim('b.run-1', 'q', {}, () => Promise.reject(new Error('cancelled')))).rejects.toThrow(
    'cancelled',
  );
  releaseA();
  expect(ledger.heldNow()).toEqual({ [SLOTS]: 0 });
  expect(ledger.mayTake([])).toBe(true);
});

test('a slot is said free for a while only once it has been free that long without a break', async () => {
  const ledger = new CapacityLedger(NO_RESOURCES, 2);
  await until(() => ledger.slotFreeFor(100), 5_000, 'the idle ledger to have had a slot free for 100 ms');
  const first = await ledger.claim('a.run-1', 'q', {}, pause);
  expect(ledger.slotFreeFor(100)).toBe(true); // one of two held: the other was free all along
  const second = await ledger.claim('b.run-1', 'q', {}, pause);
  expect(ledger.slotFreeFor(0)).toBe(false); // every slot held
  second();
  expect(ledger.slotFreeFor(0)).toBe(true);
  expect(ledger.slotFreeFor(60_000)).toBe(false); // free again only just now
  first();
});
