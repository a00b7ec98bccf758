/** A run shown running with no heartbeat for longer than its adoption window is flagged stuck; the watchdog's clock. */
import { liveBatchView, stuckReason } from '../../../src/cli/display/batch-view.js';
import { statusLines } from '../../../src/cli/display/render.js';
import { newBatchState } from '../../../src/model/batch-state.js';
import type { BatchSettings, ExperimentSpec, RunHeartbeat } from '../../../src/model/types.js';
import { NEW_WATCHDOG, clearWatchdog, isOverdue, watchFailure } from '../../../src/workflows/run-watchdog.js';

const MIN = 60_000;

test('stuck only past the adoption window, counted from the later of the last heartbeat and the last hold', () => {
  const now = 100 * MIN;
  const run = (fields: Partial<RunHeartbeat>): RunHeartbeat => ({ host: 'h', startedAt: 0, ...fields });
  expect(stuckReason(run({ heardAt: now - 4 * MIN }), now)).toBeUndefined();
  expect(stuckReason(run({ heardAt: now - 6 * MIN }), now)).toBe('no heartbeat from its run for 6.0min');
  expect(stuckReason(run({ unheldSince: now - 30_000, adoptWindowMs: 20_000 }), now)).toBe(
    'no heartbeat from its run for 30.0s',
  );
  // A pending adoption that heartbeats now holds the run, whatever the memo says.
  expect(stuckReason(run({ unheldSince: now - 60 * MIN, heardAt: now - 1_000 }), now)).toBeUndefined();
  expect(stuckReason(run({}), now)).toBeUndefined();
  expect(stuckReason(undefined, now)).toBeUndefined();
});

test('status shows STUCK with the reason on the running line and in --json', () => {
  const experiments: ExperimentSpec[] = [{ id: 'a', name: 'a', file: 'a', priority: 'high' }];
  const state = newBatchState('b', experiments, { maxConcurrent: 1 } as BatchSettings, 0);
  state.records[0] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
  const runs = new Map<number, RunHeartbeat>([[0, { host: '', startedAt: 0, unheldSince: MIN, adoptWindowMs: MIN }]]);
  const view = liveBatchView(state, 'running', runs, 3 * MIN);
  expect(view.experiments[0].stuck).toBe('no heartbeat from its run for 2.0min');
  expect(statusLines(view)).toContain('    - a (3.0min, attempt 1, STUCK: no heartbeat from its run for 2.0min)');
});

test('the watchdog: overdue once nobody held the run for longer than the window; a hold or a new run resets', () => {
  let watchdog = watchFailure(NEW_WATCHDOG, 1, 0, true);
  expect(watchdog.unheldSince).toBe(0);
  watchdog = watchFailure(watchdog, 1, 10_000, false);
  expect(watchdog.unheldSince).toBe(0);
  expect(isOverdue(watchdog, 20_000, 30_000)).toBe(false);
  expect(isOverdue(watchdog, 31_000, 30_000)).toBe(true);
  watchdog = watchFailure(watchdog, 1, 32_000, true);
  expect(watchdog.unheldSince).toBe(32_000);
  expect(isOverdue(watchdog, 40_000, 30_000)).toBe(false);
  watchdog = watchFailure(watchdog, 2, 50_000, false);
  expect(watchdog.unheldSince).toBe(50_000);
  expect(isOverdue(clearWatchdog(watchdog), 500_000, 30_000)).toBe(false);
});
