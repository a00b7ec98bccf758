/** Which experiment a batch starts next when a quota is busy. */
import { inFlight, newBatchState } from '../../src/model/batch-state.js';
import {
  deferredStartable,
  hasUnstarted,
  isUnstarted,
  markStarted,
  pickNextStart,
  placesHeld,
  slotQuotasOf,
} from '../../src/model/start-order.js';
import type { BatchSettings, BatchState, ExperimentSpec } from '../../src/model/types.js';

const settings = {
  maxConcurrent: 3,
  quotas: {
    api: { limit: 10, windowMs: 1_000, hosts: ['api.example'], maxConcurrent: 1 },
    free: { limit: 10, windowMs: 1_000, hosts: ['free.example'] },
  },
} as unknown as BatchSettings;

function batchOf(quotasByExperiment: (string[] | undefined)[]): BatchState {
  const experiments: ExperimentSpec[] = quotasByExperiment.map((quotas, index) => ({
    id: `exp${index}`,
    name: `exp${index}_x`,
    file: `exp${index}_x.sh`,
    priority: 'medium',
    ...(quotas ? { quotas } : {}),
  }));
  return newBatchState('b', experiments, settings, 0);
}

const always = () => true;
const never = () => false;

test('in order while no quota is waited for', () => {
  const state = batchOf([['api'], undefined, ['api']]);
  expect(pickNextStart(state, never)).toEqual({ start: 0 });
  markStarted(state, 0);
  expect(pickNextStart(state, never)).toEqual({ start: 1 });
});

test('passes over the experiments of a quota another waits for, only once allowed, and starts them first after', () => {
  const state = batchOf([['api'], ['api'], undefined, ['api', 'free']]);
  markStarted(state, 0);
  state.records[0] = { status: 'waiting-quota', attempts: 0, exitCode: null };
  expect(pickNextStart(state, never)).toEqual({ index: 1, blocker: 0 });
  expect(state.nextIndex).toBe(1);
  expect(pickNextStart(state, always)).toEqual({ start: 2 });
  expect(state.deferred).toEqual([1]);
  expect(isUnstarted(state, 1)).toBe(true);
  markStarted(state, 2);
  expect(pickNextStart(state, always)).toBe('nothing-startable');
  expect(state.deferred).toEqual([1, 3]);
  expect(inFlight(state)).toBe(2); // the waiting one and the one started; not the passed-over ones
  expect(deferredStartable(state)).toBe(false);

  state.records[0] = { status: 'running', attempts: 1, exitCode: null };
  expect(deferredStartable(state)).toBe(true);
  expect(pickNextStart(state, never)).toEqual({ start: 1 });
  markStarted(state, 1);
  expect(state.deferred).toEqual([3]);
  expect(hasUnstarted(state)).toBe(true);
  expect(pickNextStart(state, never)).toEqual({ start: 3 });
  markStarted(state, 3);
  expect(hasUnstarted(state)).toBe(false);
});

test('a cancelled experiment is dropped, whether next in order or passed over', () => {
  const state = batchOf([['api'], ['api'], undefined]);
  markStarted(state, 0);
  state.records[0] = { status: 'waiting-quota', attempts: 0, exitCode: null };
  pickNextStart(state, always);
  expect(state.deferred).toEqual([1]);
  state.records[1] = { status: 'cancelled', attempts: 0, exitCode: null };
  state.records[0] = { status: 'running', attempts: 1, exitCode: null };
  expect(pickNextStart(state, always)).toEqual({ start: 2 });
  expect(state.deferred).toEqual([]);
});

test('only quotas with a maxConcurrent take slots', () => {
  const [first] = batchOf([['api', 'free']]).experiments;
  expect(slotQuotasOf(first, settings)).toEqual(['api']);
});

test('places held: started experiments not ended, except those waiting for a machine', () => {
  const state = batchOf([undefined, undefined, undefined, undefined]);
  state.nextIndex = 3;
  state.records[0] = { ...state.records[0], status: 'running' };
  state.records[1] = { ...state.records[1], status: 'queued' };
  state.records[2] = { ...state.records[2], status: 'completed' };
  expect(placesHeld(state, () => false)).toBe(2);
  expect(placesHeld(state, (index) => index === 1)).toBe(1);
  state.deferred = [0];
  expect(placesHeld(state, () => false)).toBe(1);
});
