/** Attempts that ended between two snapshots (the view could not reach the server) still get a line. */
import { describeChanges } from '../../../src/cli/display/events.js';
import { newBatchState } from '../../../src/model/batch-state.js';
import type { BatchState, ExperimentRecord } from '../../../src/model/types.js';
import { testSettings } from '../../helpers/temporal.js';

function batchWith(record: ExperimentRecord, quotas?: string[]): BatchState {
  const experiments = [
    { id: 'exp2', name: 'exp2_fail', file: 'exp2_fail.py', priority: 'medium' as const, ...(quotas ? { quotas } : {}) },
  ];
  const settings = testSettings({ experimentsDir: '/e', workDir: '/w', taskQueue: 'q' });
  return { ...newBatchState('b', experiments, settings, 0), records: [record], nextIndex: 1 };
}

const running: ExperimentRecord = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
const failedBefore = { exitCode: 1, reason: 'exit-code' as const, error: 'exp2_fail attempt 1 exited with code 1' };

test('a failed attempt and its retry wait between two snapshots get their [RETRY] line before the [START]', () => {
  const after: ExperimentRecord = { ...running, ...failedBefore, attempts: 2 };
  expect(describeChanges(batchWith(running), batchWith(after), 1_000)).toEqual([
    '[RETRY] exp2_fail attempt 1 failed (exit 1), unseen by this view; it was retried',
    '[START] exp2_fail (Priority: MEDIUM, attempt 2)',
  ]);
});

test('attempts of which the record keeps no end are said to be missed, not made up', () => {
  const after: ExperimentRecord = { ...running, ...failedBefore, attempts: 4 };
  expect(describeChanges(batchWith(running), batchWith(after), 1_000)).toEqual([
    '[MISSED] exp2_fail attempts 1-2 ended unseen by this view; the batch keeps only the last end',
    '[RETRY] exp2_fail attempt 3 failed (exit 1), unseen by this view; it was retried',
    '[START] exp2_fail (Priority: MEDIUM, attempt 4)',
  ]);
  const error = 'exp2_fail attempt 3 exited with code 1';
  const failed: ExperimentRecord = { ...after, status: 'failed', attempts: 3, closedAt: 5_000, error };
  expect(describeChanges(batchWith(running), batchWith(failed), 1_000)).toEqual([
    '[MISSED] exp2_fail attempts 1-2 ended unseen by this view; the batch keeps only the last end',
    '[FAIL] exp2_fail after 3 attempt(s) (exit 1): exp2_fail attempt 3 exited with code 1',
  ]);
});

test('an attempt whose end was already shown, or that still runs, is not said to be missed', () => {
  const retrying: ExperimentRecord = { ...running, ...failedBefore, status: 'retrying' };
  const again: ExperimentRecord = { ...retrying, status: 'running', attempts: 2 };
  expect(describeChanges(batchWith(retrying), batchWith(again), 1_000)).toEqual([
    '[START] exp2_fail (Priority: MEDIUM, attempt 2)',
  ]);
  expect(describeChanges(batchWith(again), batchWith(again), 1_000)).toEqual([]);
});

test('the end of an experiment drawing from a quota is not called a retry: its API may have refused it', () => {
  const after: ExperimentRecord = { ...running, exitCode: 75, reason: 'exit-code', attempts: 2 };
  expect(describeChanges(batchWith(running, ['openai']), batchWith(after, ['openai']), 1_000)).toEqual([
    '[MISSED] exp2_fail attempt 1 failed (exit 75), unseen by this view; ' +
      'it ran again (a retry, or no retry used if its API refused it)',
    '[START] exp2_fail (Priority: MEDIUM, attempt 2)',
  ]);
});
