/** Which experiments of a batch wait for a machine with what they require, and so hold no place of the batch. */
import { newBatchState } from '../../src/model/batch-state.js';
import { MACHINE_WAIT_FREES_PLACE_MS, MachineWaits } from '../../src/model/machine-waits.js';
import { placesHeld } from '../../src/model/start-order.js';
import type { BatchSettings, ExperimentSpec, ExperimentStatus } from '../../src/model/types.js';

function batchOf(requires: (Record<string, number> | undefined)[]) {
  const experiments: ExperimentSpec[] = requires.map((needs, index) => ({
    id: `exp${index}`,
    name: `exp${index}_x`,
    file: `exp${index}_x.sh`,
    priority: 'medium',
    ...(needs ? { requires: needs } : {}),
  }));
  const state = newBatchState('b', experiments, { maxConcurrent: 3 } as unknown as BatchSettings, 0);
  let now = 1_000;
  const waits = new MachineWaits(state, () => now);
  const set = (index: number, status: ExperimentStatus) => {
    state.records[index] = { ...state.records[index], status };
    waits.note(index);
  };
  const start = (index: number) => {
    state.nextIndex = Math.max(state.nextIndex, index + 1);
    set(index, 'queued');
  };
  return { state, waits, set, start, pass: (ms: number) => (now += ms) };
}

test('a queued experiment that requires resources holds its place for a while, then frees it', () => {
  const { state, waits, start, pass } = batchOf([{ gpu: 1 }, undefined]);
  start(0);
  start(1);
  expect(placesHeld(state, waits.waitsForMachine)).toBe(2);
  expect(waits.nextChangeMs()).toBe(MACHINE_WAIT_FREES_PLACE_MS);
  pass(MACHINE_WAIT_FREES_PLACE_MS - 1);
  expect(waits.waitsForMachine(0)).toBe(false);
  expect(waits.nextChangeMs()).toBe(1);
  pass(1);
  expect([waits.waitsForMachine(0), waits.waitsForMachine(1)]).toEqual([true, false]);
  expect(placesHeld(state, waits.waitsForMachine)).toBe(1);
  expect(waits.nextChangeMs()).toBeUndefined();
});

test('a running experiment holds its place; queued again for a retry, it waits afresh', () => {
  const { waits, set, start, pass } = batchOf([{ gpu: 1 }]);
  start(0);
  pass(MACHINE_WAIT_FREES_PLACE_MS);
  set(0, 'running');
  expect(waits.waitsForMachine(0)).toBe(false);
  set(0, 'retrying');
  set(0, 'queued');
  expect(waits.waitsForMachine(0)).toBe(false);
  pass(MACHINE_WAIT_FREES_PLACE_MS);
  expect(waits.waitsForMachine(0)).toBe(true);
});

test('a run that held a resource stops: the first experiment waiting for it holds its place again', () => {
  const { waits, set, start, pass } = batchOf([{ gpu: 1 }, { gpu: 1 }, { gpu: 1 }, { tpu: 1 }]);
  start(0);
  set(0, 'running');
  [1, 2, 3].forEach(start);
  pass(MACHINE_WAIT_FREES_PLACE_MS);
  expect([1, 2, 3].map(waits.waitsForMachine)).toEqual([true, true, true]);
  set(0, 'completed');
  expect([1, 2, 3].map(waits.waitsForMachine)).toEqual([false, true, true]);
  set(0, 'completed'); // its result after its report: counted once
  expect([1, 2, 3].map(waits.waitsForMachine)).toEqual([false, true, true]);
});

test('an experiment not yet started (passed over for its quota) is not waiting for a machine', () => {
  const { state, waits, pass } = batchOf([{ gpu: 1 }]);
  state.nextIndex = 1;
  state.deferred = [0];
  pass(MACHINE_WAIT_FREES_PLACE_MS);
  expect(waits.waitsForMachine(0)).toBe(false);
  expect(waits.nextChangeMs()).toBeUndefined();
});
