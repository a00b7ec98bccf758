/** Changes to a running batch: what each check refuses, and how the queue is reordered. */
import { newBatchState } from '../../src/model/batch-state.js';
import { unpackBatchState, packBatchState } from '../../src/model/packed-state.js';
import { markStarted, pickNextStart } from '../../src/model/start-order.js';
import {
  addExperiments,
  changeBatch,
  changeExperiments,
  checkAdd,
  checkBatchChange,
  checkExperimentsChange,
  refusedBatch,
  steerAnswer,
} from '../../src/model/steering.js';
import type { BatchSettings, BatchState, ExperimentSpec, Priority } from '../../src/model/types.js';

const settings = { maxConcurrent: 2, maxRetries: 1 } as unknown as BatchSettings;

function spec(number: number, priority: Priority = 'medium'): ExperimentSpec {
  return { id: `exp${number}`, name: `exp${number}_x`, file: `exp${number}_x.sh`, priority };
}

/** exp1..expN, all medium, none started. */
function batchOf(count: number): BatchState {
  return newBatchState(
    'b',
    Array.from({ length: count }, (_, i) => spec(i + 1)),
    settings,
    0,
  );
}

const names = (state: BatchState) => state.experiments.map((experiment) => experiment.id);

/** Starts experiments in the batch's order until `count` have started. */
function start(state: BatchState, count: number): void {
  for (let i = 0; i < count; i++) {
    const next = pickNextStart(state);
    if (typeof next !== 'object' || !('start' in next)) throw new Error(`nothing to start: ${JSON.stringify(next)}`);
    markStarted(state, next.start);
    state.records[next.start] = { status: 'running', attempts: 1, exitCode: null };
  }
}

describe('add', () => {
  test('added experiments queue by priority, behind those already queued at theirs', () => {
    const state = batchOf(3);
    start(state, 1);
    addExperiments(state, { experiments: [spec(10, 'critical'), spec(11, 'medium'), spec(12, 'low')] });
    expect(names(state)).toEqual(['exp1', 'exp10', 'exp2', 'exp3', 'exp11', 'exp12']); // exp11 after exp3: by number
    expect(state.records.map((record) => record.status)).toEqual([
      'running',
      'queued',
      'queued',
      'queued',
      'queued',
      'queued',
    ]);
    expect(steerAnswer(state, ['exp10_x', 'exp12_x']).experiments.map((e) => e.place)).toEqual([1, 5]);
  });

  test('a name already in the batch, a name given twice or nothing at all is refused', () => {
    const state = batchOf(2);
    expect(checkAdd(state, { experiments: [spec(2)] })).toMatch(/already has an experiment named "exp2_x"/);
    expect(checkAdd(state, { experiments: [spec(5), spec(5)] })).toMatch(/named twice/);
    expect(checkAdd(state, { experiments: [] })).toMatch(/nothing to add/);
    expect(checkAdd(state, { experiments: [spec(5)] })).toBeUndefined();
  });
});

describe('change experiments', () => {
  test('a new priority moves a queued experiment; started ones stay where they are', () => {
    const state = batchOf(4);
    start(state, 1);
    changeExperiments(state, { names: ['exp4_x'], priority: 'critical' });
    expect(names(state)).toEqual(['exp1', 'exp4', 'exp2', 'exp3']);
    expect(state.experiments[1].priority).toBe('critical');
    expect(checkExperimentsChange(state, { names: ['exp1_x'], priority: 'low' })).toMatch(/already started/);
  });

  test('a held experiment goes last and never starts; released, it takes its place by priority again', () => {
    const state = batchOf(3);
    changeExperiments(state, { names: ['exp1_x'], hold: true });
    expect(names(state)).toEqual(['exp2', 'exp3', 'exp1']);
    expect(checkExperimentsChange(state, { names: ['exp1_x'], hold: true })).toMatch(/already held/);
    start(state, 2);
    expect(pickNextStart(state)).toBe('nothing-startable');
    changeExperiments(state, { names: ['exp1_x'], hold: false });
    expect(state.records[2].status).toBe('queued');
    expect(pickNextStart(state)).toEqual({ start: 2 });
  });

  test('released, an experiment goes back to its place by number among its priority, not behind it', () => {
    const state = batchOf(4);
    changeExperiments(state, { names: ['exp2_x'], hold: true });
    changeExperiments(state, { names: ['exp2_x'], hold: false });
    expect(names(state)).toEqual(['exp1', 'exp2', 'exp3', 'exp4']);
  });

  test('refused: unknown names, ended ones, releasing one not held, nothing to change', () => {
    const state = batchOf(2);
    state.records[1] = { status: 'cancelled', attempts: 0, exitCode: null };
    expect(checkExperimentsChange(state, { names: ['exp9_x'], hold: true })).toMatch(/has no experiment "exp9_x"/);
    expect(checkExperimentsChange(state, { names: ['exp2_x'], hold: true })).toMatch(/already ended \(cancelled\)/);
    expect(checkExperimentsChange(state, { names: ['exp1_x'], hold: false })).toMatch(/is not held/);
    expect(checkExperimentsChange(state, { names: ['exp1_x'] })).toMatch(/nothing to change/);
    expect(checkExperimentsChange(state, { names: ['exp1_x'], hold: true })).toBeUndefined();
  });

  test('an experiment deferred behind its quota does not change', () => {
    const state = batchOf(2);
    state.nextIndex = 2;
    state.deferred = [0];
    expect(checkExperimentsChange(state, { names: ['exp1_x'], priority: 'high' })).toMatch(/quota's slot/);
  });
});

describe('change the batch', () => {
  test('limits, pause and resume; each refused when it means nothing or is out of range', () => {
    const state = batchOf(1);
    expect(checkBatchChange(state, {})).toMatch(/nothing to change/);
    expect(checkBatchChange(state, { maxConcurrent: 0 })).toMatch(/at least 1/);
    expect(checkBatchChange(state, { maxRetries: -1 })).toMatch(/at least 0/);
    expect(checkBatchChange(state, { paused: false })).toMatch(/is not paused/);
    changeBatch(state, { maxConcurrent: 5, maxRetries: 0, paused: true }, 1_000);
    expect(state.settings).toMatchObject({ maxConcurrent: 5, maxRetries: 0 });
    expect(settings.maxConcurrent).toBe(2); // the batch's settings are replaced, not shared ones changed
    expect(checkBatchChange(state, { paused: true })).toMatch(/already paused/);
    expect(steerAnswer(state, [])).toMatchObject({ maxConcurrent: 5, maxRetries: 0, pausedSince: 1_000 });
    expect(unpackBatchState(packBatchState(state)).pausedSince).toBe(1_000);
    changeBatch(state, { paused: false }, 2_000);
    expect(state.pausedSince).toBeUndefined();
  });

  test('a batch being cancelled, or ended, takes no change', () => {
    const state = batchOf(1);
    expect(refusedBatch(state, false)).toBeUndefined();
    expect(refusedBatch(state, true)).toMatch(/has ended/);
    state.cancelRequested = true;
    expect(refusedBatch(state, false)).toMatch(/being cancelled/);
  });
});

test('a held status survives packing', () => {
  const state = batchOf(2);
  changeExperiments(state, { names: ['exp2_x'], hold: true });
  expect(unpackBatchState(packBatchState(state)).records.map((record) => record.status)).toEqual(['queued', 'held']);
});
