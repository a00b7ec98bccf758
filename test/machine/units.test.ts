/** Unit claims on a real directory: who holds a unit, across claimants, until its run surely has no process left. */
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { processIdentityOf } from '../../src/keeper/process-identity.js';
import type { ProcessIdentity } from '../../src/keeper/run-files.js';
import { CapacityLedger } from '../../src/machine/capacity.js';
import { UnitClaims } from '../../src/machine/units.js';
import { parseMachineResources } from '../../src/model/requirements.js';
import { tempDir } from '../helpers/scripts.js';

async function claimsIn(prefix: string, units = { gpu: ['0', '1'] }) {
  const root = await tempDir(prefix);
  const runsDir = path.join(root, 'runs');
  await mkdir(runsDir);
  const claims = () => new UnitClaims(path.join(root, 'units'), units, (runKey) => path.join(runsDir, runKey));
  const started = (runKey: string) => mkdir(path.join(runsDir, runKey));
  const ended = (runKey: string) => writeFile(path.join(runsDir, runKey, 'exit.json'), '{}');
  return { root, runsDir, claims, started, ended };
}

test('each run gets units of its own, and keeps them until its directory says it ended', async () => {
  const { claims, started, ended } = await claimsIn('units-claims');
  const first = claims();
  const second = claims(); // another worker of the machine: claim files are all they share
  expect(await first.claim('a.run-1', { gpu: 1 })).toEqual({ gpu: ['0'] });
  await started('a.run-1');
  expect(await second.claim('b.run-1', { gpu: 1 })).toEqual({ gpu: ['1'] });
  await started('b.run-1');
  expect(await first.claim('c.run-1', { gpu: 1 })).toBeUndefined();
  expect(await second.held()).toEqual({ gpu: ['0', '1'] });

  await second.releaseIfGone('a.run-1', { gpu: ['0'] }); // still running: nothing freed
  expect(await first.claim('c.run-1', { gpu: 1 })).toBeUndefined();
  await ended('a.run-1');
  expect(await first.claim('c.run-1', { gpu: 1 })).toEqual({ gpu: ['0'] });
});

test('a run whose stop left a process alive keeps its units until that process is gone', async () => {
  const { claims, started, runsDir } = await claimsIn('units-survivor', { gpu: ['0'] });
  const units = claims();
  expect(await units.claim('a.run-1', { gpu: 1 })).toEqual({ gpu: ['0'] });
  await started('a.run-1');
  const survivor = spawn('sleep', ['300'], { stdio: 'ignore' });
  const identity = processIdentityOf(survivor.pid!)!;
  const endedWith = (survivors: ProcessIdentity[]) =>
    writeFile(path.join(runsDir, 'a.run-1', 'exit.json'), JSON.stringify({ end: 'abandoned', survivors }));
  try {
    await endedWith([identity]);
    expect(await units.claim('b.run-1', { gpu: 1 })).toBeUndefined(); // its survivor may still use the GPU
    survivor.kill('SIGKILL');
    await new Promise((resolve) => survivor.once('exit', resolve));
    expect(await units.claim('b.run-1', { gpu: 1 })).toEqual({ gpu: ['0'] });
  } finally {
    survivor.kill('SIGKILL');
  }
});

test('a claim whose run directory is gone is free once a start would have made it', async () => {
  const { claims } = await claimsIn('units-gone');
  const units = claims();
  expect(await units.claim('a.run-1', { gpu: 2 })).toEqual({ gpu: ['0', '1'] });
  expect(await units.claim('b.run-1', { gpu: 1 })).toBeUndefined(); // a.run-1 is being started
  await units.releaseIfGone('a.run-1', { gpu: ['0', '1'] }); // its start failed before its directory existed
  expect(await units.claim('b.run-1', { gpu: 2 })).toEqual({ gpu: ['0', '1'] });
});

test('a claim takes all it asks or nothing; an adopted run keeps its units', async () => {
  const { claims, started } = await claimsIn('units-keep');
  const units = claims();
  expect(await units.claim('a.run-1', { gpu: 1 })).toEqual({ gpu: ['0'] });
  await started('a.run-1');
  expect(await units.claim('b.run-1', { gpu: 2 })).toBeUndefined();
  expect(await units.held()).toEqual({ gpu: ['0'] }); // b took none
  const restarted = claims();
  expect(await restarted.keep('a.run-1', { gpu: ['0'] })).toBe(true);
  expect(await restarted.keep('b.run-1', { gpu: ['0'] })).toBe(false);
  expect(await restarted.claim('b.run-1', { gpu: 1 })).toEqual({ gpu: ['1'] });
});

test('of many claimants of one unit at once, exactly one gets it', async () => {
  const { claims, runsDir } = await claimsIn('units-race', { gpu: ['0'] });
  const runKeys = Array.from({ length: 12 }, (_, index) => `r${index}.run-1`);
  await Promise.all(runKeys.map((runKey) => mkdir(path.join(runsDir, runKey))));
  const results = await Promise.all(runKeys.map((runKey) => claims().claim(runKey, { gpu: 1 })));
  expect(results.filter(Boolean)).toEqual([{ gpu: ['0'] }]);
});

test("the ledger hands a run its units; the release frees them once the run's end is on disk", async () => {
  const { root, runsDir, started, ended } = await claimsIn('units-ledger');
  const machine = parseMachineResources('gpu=0,1');
  const ledger = new CapacityLedger(
    machine,
    4,
    undefined,
    new UnitClaims(path.join(root, 'units'), machine.units!, (runKey) => path.join(runsDir, runKey)),
  );
  const noWait = () => new Promise<void>((resolve) => setTimeout(resolve, 5));
  const releaseA = await ledger.claim('a.run-1', 'q@needs:gpu', { gpu: 1 }, noWait);
  await started('a.run-1');
  const releaseB = await ledger.claim('b.run-1', 'q@needs:gpu', { gpu: 1 }, noWait);
  await started('b.run-1');
  expect([ledger.unitsOf('a.run-1'), ledger.unitsOf('b.run-1')]).toEqual([{ gpu: ['0'] }, { gpu: ['1'] }]);
  let third: Record<string, string[]> | undefined;
  const claimC = ledger
    .claim('c.run-1', 'q@needs:gpu', { gpu: 1 }, noWait)
    .then(() => (third = ledger.unitsOf('c.run-1')));
  await ended('b.run-1');
  releaseB();
  await claimC;
  expect(third).toEqual({ gpu: ['1'] });
  releaseA(); // left for adoption, not ended: its unit stays claimed
  await rm(path.join(runsDir, 'c.run-1'), { recursive: true, force: true });
  expect((await readdir(path.join(root, 'units', 'gpu'))).filter((file) => file.startsWith('0.'))).toEqual(['0.1']);
});

/** Claims that wait for `open` before they look at the claim files: a claim caught between its hold and its units. */
class GatedClaims extends UnitClaims {
  private opened!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.opened = resolve));
  open(): void {
    this.opened();
  }
  override async claim(runKey: string, amounts: Record<string, number>) {
    await this.gate;
    return super.claim(runKey, amounts);
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Polls as a requirement queue's worker does (worker-queues.ts): once the ledger lets the machine take a task. */
function pollOnceFree(ledger: CapacityLedger, names: string[]): { polled: boolean } {
  const state = { polled: false };
  void (async () => {
    while (!ledger.mayTake(names)) await ledger.changed();
    state.polled = true;
  })();
  return state;
}

test('a run claiming its units counts once: the machine takes a third task while two runs claim theirs', async () => {
  const { root, runsDir } = await claimsIn('units-poll', { gpu: ['1', '2', '3'] });
  const machine = parseMachineResources('gpu=1,2,3');
  const units = new GatedClaims(path.join(root, 'units'), machine.units!, (runKey) => path.join(runsDir, runKey));
  const ledger = new CapacityLedger(machine, 3, undefined, units);
  const queue = 'q@needs:gpu';
  ledger.taskTaken(queue, ['gpu']);
  ledger.taskTaken(queue, ['gpu']);
  const claims = ['a.run-1', 'b.run-1'].map((runKey) => ledger.claim(runKey, queue, { gpu: 1 }, nextTurn));
  await nextTurn(); // both held, their units not claimed yet
  const third = pollOnceFree(ledger, ['gpu']);
  await nextTurn();
  expect(third.polled).toBe(true);
  units.open();
  await Promise.all(claims);
  // Which of the two claims reaches the claim files first is a race: each gets one device, not the same one.
  const claimed = ['a.run-1', 'b.run-1'].flatMap((runKey) => ledger.unitsOf(runKey)?.gpu ?? []);
  expect(claimed).toHaveLength(2);
  expect(new Set(claimed).size).toBe(2);
});

test('a claim given up while it waited lets a poll it held back go on', async () => {
  const ledger = new CapacityLedger(parseMachineResources('gpu=1'), 2);
  const queue = 'q@needs:gpu';
  await ledger.claim('a.run-1', queue, { gpu: 1 }, nextTurn);
  let giveUp!: () => void;
  const cancelled = new Promise<void>((_, reject) => (giveUp = () => reject(new Error('cancelled'))));
  const waiting = ledger.claim('b.run-1', queue, { gpu: 1 }, () => cancelled).catch((err: Error) => err.message);
  await nextTurn();
  const untyped = pollOnceFree(ledger, []); // a run needing no GPU: the waiting one asks the last slot
  await nextTurn();
  expect(untyped.polled).toBe(false);
  giveUp();
  expect(await waiting).toBe('cancelled');
  await nextTurn();
  expect(untyped.polled).toBe(true);
});
