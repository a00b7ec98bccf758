/** A run's clean exit gives its experiment's place back once, and only while the experiment has not moved on. */
import { applyReport, endsAwaited, inFlight, newBatchState } from '../../src/model/batch-state.js';
import { freePlace, placeFreed } from '../../src/model/freed-places.js';
import { MachineWaits } from '../../src/model/machine-waits.js';
import { packBatchState, unpackBatchState } from '../../src/model/packed-state.js';
import { markStarted, placesHeld, refillsAtOnce } from '../../src/model/start-order.js';
import type { BatchSettings, BatchState, ExperimentRecord, ExperimentSpec } from '../../src/model/types.js';

function batchOf(count: number, requires?: Record<number, Record<string, number>>): BatchState {
  const experiments: ExperimentSpec[] = Array.from({ length: count }, (_, index) => ({
    id: `exp${index}`,
    name: `exp${index}_x`,
    file: `exp${index}_x.sh`,
    priority: 'medium',
    ...(requires?.[index] ? { requires: requires[index] } : {}),
  }));
  return newBatchState('b', experiments, { maxConcurrent: 2 } as unknown as BatchSettings, 0);
}

const running = (attempts: number): ExperimentRecord => ({ status: 'running', attempts, exitCode: null });
const exitOf = (index: number, run: number) => ({ index, name: `exp${index}_x`, run });
const none = () => false;

function twoRunning(): BatchState {
  const state = batchOf(3);
  markStarted(state, 0);
  markStarted(state, 1);
  state.records[0] = running(1);
  state.records[1] = running(1);
  return state;
}

test('a clean exit frees the place before the experiment ends, and its end frees nothing more', () => {
  const state = twoRunning();
  expect(placesHeld(state, none)).toBe(2);
  expect(freePlace(state, exitOf(0, 1))).toBe(true);
  expect([placesHeld(state, none), inFlight(state)]).toEqual([1, 1]);
  markStarted(state, 2); // the next one takes the place
  state.records[2] = running(1);
  expect(placesHeld(state, none)).toBe(2);
  applyReport(state, { index: 0, record: { status: 'completed', attempts: 1, exitCode: 0, closedAt: 5 } });
  expect(placesHeld(state, none)).toBe(2);
  expect(freePlace(state, exitOf(0, 1))).toBe(false); // late: after the experiment closed
  expect(placesHeld(state, none)).toBe(2);
});

test('a short run never shown running frees its place too; the same message twice changes nothing', () => {
  const state = twoRunning();
  state.records[1] = { status: 'queued', attempts: 0, exitCode: null };
  expect(freePlace(state, exitOf(1, 1))).toBe(true);
  expect(freePlace(state, exitOf(1, 1))).toBe(false);
  expect(placesHeld(state, none)).toBe(1);
  applyReport(state, { index: 1, record: running(1) }); // its announcement, arriving late
  expect(placesFreed(state)).toEqual([1]);
});

test('stray messages change nothing: an older run, an experiment not started, another name', () => {
  const state = twoRunning();
  state.records[0] = running(3);
  expect(freePlace(state, exitOf(0, 2))).toBe(false);
  expect(freePlace(state, exitOf(2, 1))).toBe(false);
  expect(freePlace(state, { index: 1, name: 'exp0_x', run: 1 })).toBe(false);
  expect(freePlace(state, exitOf(7, 1))).toBe(false);
  state.deferred = [1];
  expect(freePlace(state, exitOf(1, 1))).toBe(false);
  expect(state.placesFreed).toBeUndefined();
});

test('a run lost after its clean exit and run again holds its place again', () => {
  const state = twoRunning();
  freePlace(state, exitOf(0, 1));
  // Its result never reached the server and nobody adopted it: queued again, then run 2 starts.
  applyReport(state, { index: 0, record: { status: 'queued', attempts: 1, exitCode: null, reason: 'worker-lost' } });
  expect(placesHeld(state, none)).toBe(2);
  applyReport(state, { index: 0, record: running(2) });
  expect(placesHeld(state, none)).toBe(2);
  expect(packBatchState(state).placesFreed).toBeUndefined();
});

test('the marks that still free a place survive continue-as-new; states packed before them decode', () => {
  const state = twoRunning();
  freePlace(state, exitOf(1, 1));
  const packed = packBatchState(state);
  expect(packed.placesFreed).toEqual({ 1: 1 });
  const again = unpackBatchState(JSON.parse(JSON.stringify(packed)));
  expect(placesHeld(again, none)).toBe(1);
  const older = { ...packed, placesFreed: undefined };
  expect(placesHeld(unpackBatchState(older), none)).toBe(2);
});

test('the resources of a run that gave its place back re-hold the place of an experiment waiting for them', () => {
  const state = batchOf(3, { 0: { gpu: 1 }, 1: { gpu: 1 } });
  let now = 0;
  const waits = new MachineWaits(state, () => now);
  markStarted(state, 0);
  markStarted(state, 1);
  state.records[0] = running(1);
  waits.note(0);
  waits.note(1); // queued, waiting for a machine with a free GPU
  now += 60_000;
  expect(placesHeld(state, waits.waitsForMachine)).toBe(1);
  freePlace(state, exitOf(0, 1));
  waits.runStopped(0);
  // The GPU is free: the waiting one may run now, so it holds the place the exit gave back.
  expect(placesHeld(state, waits.waitsForMachine)).toBe(1);
});

function placesFreed(state: BatchState): number[] {
  return state.records.flatMap((_, index) => (placeFreed(state, index) ? [index] : []));
}

test('a freed place is still an awaited end until the experiment ends (the batch continues as new after)', () => {
  const state = twoRunning();
  freePlace(state, exitOf(0, 1));
  expect([inFlight(state), endsAwaited(state)]).toEqual([1, 2]);
  applyReport(state, { index: 0, record: { status: 'completed', attempts: 1, exitCode: 0, closedAt: 5 } });
  applyReport(state, { index: 1, record: { status: 'completed', attempts: 1, exitCode: 0, closedAt: 6 } });
  expect([inFlight(state), endsAwaited(state)]).toEqual([0, 0]);
});

test('a place freed where a slot was free beside is refilled at once, after a plain experiment only', () => {
  const settings = { maxConcurrent: 2, quotas: { api: { maxConcurrent: 1 }, metered: {} } } as unknown as BatchSettings;
  const plain: ExperimentSpec = { id: 'e1', name: 'e1_x', file: 'e1_x.sh', priority: 'medium' };
  expect(refillsAtOnce(plain, settings, 1)).toBe(true);
  expect(refillsAtOnce(plain, settings, 0)).toBe(false); // no exit of this task had room: one start per task
  expect(refillsAtOnce({ ...plain, requires: { gpu: 1 } }, settings, 2)).toBe(false); // waits for a machine
  expect(refillsAtOnce({ ...plain, quotas: ['api'] }, settings, 2)).toBe(false); // waits for its quota's slot
  expect(refillsAtOnce({ ...plain, quotas: ['metered'] }, settings, 2)).toBe(true); // a quota without slots
});
