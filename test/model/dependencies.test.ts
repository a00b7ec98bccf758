/** Dependencies in a running batch: who waits, who is skipped, and the queue order they make. */
import { newBatchState } from '../../src/model/batch-state.js';
import { dependencyProblem, skipUnreachable, waitingFor } from '../../src/model/dependencies.js';
import { markStarted, pickNextStart } from '../../src/model/start-order.js';
import { addExperiments, sortQueue } from '../../src/model/steering.js';
import type { BatchSettings, ExperimentSpec, Priority } from '../../src/model/types.js';

const settings = { maxConcurrent: 2, maxRetries: 0 } as unknown as BatchSettings;

function spec(number: number, priority: Priority, deps: Partial<ExperimentSpec> = {}): ExperimentSpec {
  return { id: `exp${number}`, name: `exp${number}_x`, file: `exp${number}_x.sh`, priority, ...deps };
}

test('an experiment waiting for another goes behind the ready ones; it starts once that one completed', () => {
  const state = newBatchState(
    'b',
    [spec(1, 'critical', { after: ['exp3_x'] }), spec(2, 'medium'), spec(3, 'low')],
    settings,
    0,
  );
  sortQueue(state);
  expect(state.experiments.map((e) => e.id)).toEqual(['exp2', 'exp3', 'exp1']);
  expect(waitingFor(state, 2)).toEqual(['exp3_x']);
  expect(pickNextStart(state)).toEqual({ start: 0 });
  markStarted(state, 0);
  expect(pickNextStart(state)).toEqual({ start: 1 });
  markStarted(state, 1);
  expect(pickNextStart(state)).toBe('nothing-startable'); // exp1 waits for exp3, which runs
  state.records[1] = { status: 'completed', attempts: 1, exitCode: 0 };
  sortQueue(state);
  expect(pickNextStart(state)).toEqual({ start: 2 });
});

test('a failed dependency skips its dependents, and theirs; After-any starts after any end', () => {
  const state = newBatchState(
    'b',
    [
      spec(1, 'medium'),
      spec(2, 'medium', { after: ['exp1_x'] }),
      spec(3, 'medium', { after: ['exp2_x'] }),
      spec(4, 'medium', { afterAny: ['exp1_x'] }),
    ],
    settings,
    0,
  );
  markStarted(state, 0);
  state.records[0] = { status: 'failed', attempts: 1, exitCode: 1 };
  expect(skipUnreachable(state, 5)).toEqual([1, 2]);
  expect(state.records.map((record) => record.status)).toEqual(['failed', 'skipped', 'skipped', 'queued']);
  expect(state.records[1].error).toBe('not started: exp1_x failed');
  expect(state.records[2].error).toBe('not started: exp2_x skipped');
  expect(waitingFor(state, 3)).toEqual([]);
});

test('an added experiment may wait for one already in the batch; a circle through the batch is refused', () => {
  const state = newBatchState('b', [spec(1, 'medium', { after: ['exp2_x'] }), spec(2, 'low')], settings, 0);
  sortQueue(state);
  addExperiments(state, { experiments: [spec(5, 'critical', { after: ['exp2_x'] })] });
  expect(state.experiments.map((e) => e.id)).toEqual(['exp2', 'exp5', 'exp1']);
  expect(dependencyProblem([spec(6, 'low', { after: ['exp1_x'] })], state.experiments)).toBeUndefined();
  expect(dependencyProblem([spec(7, 'low', { after: ['exp99_x'] })], state.experiments)).toMatch(/not in the batch/);
  const circular = [{ ...spec(2, 'low'), after: ['exp1_x'] }];
  expect(dependencyProblem(circular, [spec(1, 'medium', { after: ['exp2_x'] })])).toMatch(/circle/);
});
