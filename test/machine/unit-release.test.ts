/** Units come free from facts: a keeper that died (recorded abandoned), a start whose worker died, a wasted claim. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CapacityLedger } from '../../src/machine/capacity.js';
import { UnitClaims } from '../../src/machine/units.js';
import { RunFiles, type RunExit } from '../../src/keeper/run-files.js';
import { processIdentityOf } from '../../src/keeper/process-identity.js';
import { parseMachineResources } from '../../src/model/requirements.js';
import { tempDir } from '../helpers/scripts.js';

async function oneGpu(prefix: string) {
  const root = await tempDir(prefix);
  const runsDir = path.join(root, 'runs');
  await mkdir(runsDir);
  const unitsDir = path.join(root, 'units');
  const claims = new UnitClaims(unitsDir, { gpu: ['0'] }, (runKey) => path.join(runsDir, runKey));
  const files = (runKey: string) => new RunFiles(path.join(runsDir, runKey));
  return { root, runsDir, unitsDir, claims, files };
}

/** The identity of a process that has exited. */
async function deadProcess() {
  const child = spawn('sleep', ['0.3']);
  await once(child, 'spawn');
  const identity = processIdentityOf(child.pid!)!;
  await once(child, 'exit');
  return identity;
}

test('a run whose keeper died frees its unit once recorded abandoned, and reads as lost, not failed', async () => {
  const { claims, files } = await oneGpu('units-abandoned');
  expect(await claims.claim('wf.run-1', { gpu: 1 })).toEqual({ gpu: ['0'] });
  const run1 = files('wf.run-1');
  await run1.claim();
  await run1.writeJson(run1.state, { keeperPid: 999_999_999, pid: 999_999_999, startedAt: 1, killMode: 'cgroup' });
  await claims.releaseIfGone('wf.run-1', { gpu: ['0'] });
  expect(await claims.claim('wf.run-2', { gpu: 1 })).toBeUndefined(); // its keeper is gone, but nothing says so

  // As the run's guard, or the worker's stop of what its keeper left (keeper/stop_left.go), records it.
  await run1.writeJson(run1.exit, {
    end: 'abandoned',
    exitCode: null,
    signal: null,
    endedAt: 2,
    tail: [],
    error: 'its keeper died without recording an end',
  });
  await claims.releaseIfGone('wf.run-1', { gpu: ['0'] });
  expect(await claims.claim('wf.run-2', { gpu: 1 })).toEqual({ gpu: ['0'] });
  expect((await run1.readJson<RunExit>(run1.exit))?.end).toBe('abandoned'); // run-experiment.ts: a lost run
});

/** A claim as a worker makes it (units.ts), by a claimant of our choosing. */
async function claimBy(unitsDir: string, runDir: string, claimant: object) {
  await mkdir(path.join(unitsDir, 'gpu'), { recursive: true });
  await writeFile(path.join(unitsDir, 'gpu', '0.1'), JSON.stringify({ runDir, at: Date.now() - 60_000, claimant }));
}

test('a start whose worker died before its keeper started the run frees its unit once its lease is past', async () => {
  const { unitsDir, claims, files } = await oneGpu('units-dead-start');
  const run = files('wf.run-1');
  await run.claim();
  await run.writeJson(run.spec, { leaseTimeoutMs: 60_000 });
  await run.renewLease(Date.now());
  await claimBy(unitsDir, run.dir, await deadProcess());
  expect(await claims.claim('other.run-1', { gpu: 1 })).toBeUndefined(); // a keeper may still start it
  await utimes(run.lease, (Date.now() - 61_000) / 1000, (Date.now() - 61_000) / 1000);
  expect(await claims.claim('other.run-1', { gpu: 1 })).toEqual({ gpu: ['0'] });
});

test('a start without state.json holds its unit while its worker lives, or once its keeper started it', async () => {
  const { unitsDir, claims, files } = await oneGpu('units-live-start');
  const run = files('wf.run-1');
  await run.claim(); // no spec, no lease: no keeper was launched
  await claimBy(unitsDir, run.dir, processIdentityOf(process.pid)!);
  expect(await claims.claim('other.run-1', { gpu: 1 })).toBeUndefined();
  await claimBy(unitsDir, run.dir, await deadProcess());
  await run.writeJson(run.state, { keeperPid: process.pid, pid: process.pid, startedAt: 1, killMode: 'cgroup' });
  expect(await claims.claim('other.run-1', { gpu: 1 })).toBeUndefined();
});

test("a start that finds its run started before gives back its fresh units and holds the spec's", async () => {
  const root = await tempDir('units-wasted');
  const runsDir = path.join(root, 'runs');
  const machine = parseMachineResources('gpu=0,1');
  const units = new UnitClaims(path.join(root, 'units'), machine.units!, (runKey) => path.join(runsDir, runKey));
  const ledger = new CapacityLedger(machine, 4, undefined, units);
  const noWait = () => new Promise<void>((resolve) => setTimeout(resolve, 5));
  // A worker lost before the server heard of it started wf.run-1 on gpu 1 (gpu 0 was another run's then).
  expect(await units.claim('other.run-1', { gpu: 1 })).toEqual({ gpu: ['0'] });
  expect(await units.claim('wf.run-1', { gpu: 1 })).toEqual({ gpu: ['1'] });
  const run = new RunFiles(path.join(runsDir, 'wf.run-1'));
  await run.claim();
  await run.writeJson(run.spec, { units: { gpu: ['1'] } });
  await mkdir(path.join(runsDir, 'other.run-1'));
  await writeFile(path.join(runsDir, 'other.run-1', 'exit.json'), '{}');
  // The start of wf.run-1 again: its claim takes the free gpu 0, then finds the run's directory there.
  const release = await ledger.claim('wf.run-1', 'q@needs:gpu', { gpu: 1 }, noWait);
  expect(ledger.unitsOf('wf.run-1')).toEqual({ gpu: ['0'] });
  await ledger.keepUnitsOfSpec('wf.run-1', { gpu: ['1'] });
  expect(ledger.unitsOf('wf.run-1')).toEqual({ gpu: ['1'] });
  expect(await units.claim('other.run-2', { gpu: 1 })).toEqual({ gpu: ['0'] });
  expect(await units.held()).toEqual({ gpu: ['0', '1'] });
  release();
});

test('a start that finds a directory without spec (its worker died before the launch) holds no unit', async () => {
  const { runsDir, unitsDir } = await oneGpu('units-wasted-nospec');
  const machine = parseMachineResources('gpu=0..0');
  const units = new UnitClaims(unitsDir, machine.units!, (runKey) => path.join(runsDir, runKey));
  const ledger = new CapacityLedger(machine, 4, undefined, units);
  const release = await ledger.claim('wf.run-1', 'q@needs:gpu', { gpu: 1 }, () => Promise.resolve());
  await mkdir(path.join(runsDir, 'wf.run-1'));
  await ledger.keepUnitsOfSpec('wf.run-1', undefined);
  expect(ledger.unitsOf('wf.run-1')).toBeUndefined();
  expect(await units.claim('other.run-1', { gpu: 1 })).toEqual({ gpu: ['0'] });
  release();
});
