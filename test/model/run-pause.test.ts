/** Pausing running experiments: what the batch's check refuses, and a paused run's record through packing. */
import { newBatchState } from '../../src/model/batch-state.js';
import { packBatchState, unpackBatchState } from '../../src/model/packed-state.js';
import { checkExperimentsPause, pauseSettled, withoutPause } from '../../src/model/run-pause.js';
import type { BatchSettings, BatchState, ExperimentSpec } from '../../src/model/types.js';

const settings = { maxConcurrent: 2, maxRetries: 1 } as unknown as BatchSettings;
const spec = (n: number): ExperimentSpec => ({
  id: `exp${n}`,
  name: `exp${n}_x`,
  file: `exp${n}_x.sh`,
  priority: 'medium',
});

/** exp1 running (its run paused since 5000), exp2 running, exp3 retrying, exp4 completed, exp5 and exp6 queued. */
function batch(): BatchState {
  const state = newBatchState(
    'b',
    [1, 2, 3, 4, 5, 6].map((n) => spec(n)),
    settings,
    0,
  );
  state.nextIndex = 4;
  state.records[0] = { status: 'running', attempts: 1, exitCode: null, startedAt: 100, pausedSince: 5_000 };
  state.records[1] = { status: 'running', attempts: 2, exitCode: null, startedAt: 200 };
  state.records[2] = { status: 'retrying', attempts: 1, exitCode: 1, retryAt: 9_000 };
  state.records[3] = { status: 'completed', attempts: 1, exitCode: 0, closedAt: 3_000 };
  // A queued experiment whose record says running cannot happen; checked by index all the same.
  state.records[5] = { status: 'running', attempts: 1, exitCode: null };
  return state;
}

test.each([
  [{ names: [], paused: true }, 'name at least one experiment'],
  [{ names: ['exp9_x'], paused: true }, 'batch b has no experiment "exp9_x"'],
  [{ names: ['exp4_x'], paused: true }, 'exp4_x has already ended (completed)'],
  [{ names: ['exp3_x'], paused: true }, "exp3_x is not running (retrying): only a running experiment's run can pause"],
  [{ names: ['exp5_x'], paused: false }, "exp5_x is not running (queued): only a running experiment's run can resume"],
  [{ names: ['exp6_x'], paused: true }, "exp6_x is not running (running): only a running experiment's run can pause"],
  [{ names: ['exp1_x'], paused: true }, 'exp1_x is already paused'],
  [{ names: ['exp2_x'], paused: false }, 'exp2_x is not paused'],
  // One bad name refuses the whole change.
  [{ names: ['exp2_x', 'exp1_x'], paused: true }, 'exp1_x is already paused'],
])('%j is refused: %s', (change, why) => {
  expect(checkExperimentsPause(batch(), change)).toBe(why);
});

test('a running run not paused pauses; a paused one resumes', () => {
  expect(checkExperimentsPause(batch(), { names: ['exp2_x'], paused: true })).toBeUndefined();
  expect(checkExperimentsPause(batch(), { names: ['exp1_x'], paused: false })).toBeUndefined();
});

test('a change is settled once the run is as asked, or no longer runs', () => {
  const [paused, running, retrying] = batch().records;
  expect(pauseSettled(paused, true)).toBe(true);
  expect(pauseSettled(running, true)).toBe(false);
  expect(pauseSettled(paused, false)).toBe(false);
  expect(pauseSettled(running, false)).toBe(true);
  expect(pauseSettled(retrying, true)).toBe(true);
});

test("a paused run's since survives packing (status, continue-as-new); withoutPause drops it", () => {
  const state = batch();
  const again = unpackBatchState(packBatchState(state));
  expect(again.records[0].pausedSince).toBe(5_000);
  expect(again.records[1]).not.toHaveProperty('pausedSince');
  expect(withoutPause(state.records[0])).toEqual({ status: 'running', attempts: 1, exitCode: null, startedAt: 100 });
  expect(withoutPause(state.records[1])).toBe(state.records[1]);
  // A batch without paused runs packs as before.
  const never = newBatchState('b', [spec(1)], settings, 0);
  expect(packBatchState(never)).not.toHaveProperty('runsPausedSince');
});
