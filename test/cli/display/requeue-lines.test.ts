/** An experiment's requeues (exit 85) as `watch`, `status` and the summary show them. */
import { describeChanges } from '../../../src/cli/display/events.js';
import { liveBatchView } from '../../../src/cli/display/batch-view.js';
import { statusLines } from '../../../src/cli/display/render.js';
import { newBatchState, summarize } from '../../../src/model/batch-state.js';
import { summaryRows } from '../../../src/model/summary-table.js';
import type { BatchState, ExperimentRecord } from '../../../src/model/types.js';
import { testSettings } from '../../helpers/temporal.js';

function batchWith(record: ExperimentRecord): BatchState {
  const experiments = [{ id: 'exp1', name: 'exp1_resumes', file: 'exp1_resumes.py', priority: 'high' as const }];
  const settings = testSettings({ experimentsDir: '/e', workDir: '/w', taskQueue: 'q' });
  return { ...newBatchState('b', experiments, settings, 0), records: [record], nextIndex: 1 };
}

const running: ExperimentRecord = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
const requeued: ExperimentRecord = { ...running, status: 'queued', exitCode: 85, reason: 'exit-code', requeues: 1 };
const again: ExperimentRecord = { ...requeued, status: 'running', attempts: 2 };

test('watch prints [REQUEUE] once per requeue, seen queued or already running again', () => {
  expect(describeChanges(batchWith(running), batchWith(requeued), 1_000)).toEqual([
    '[REQUEUE] exp1_resumes checkpointed (exit 85): requeue 1, it runs again (no retry used)',
  ]);
  expect(describeChanges(batchWith(running), batchWith(again), 1_000)).toEqual([
    '[REQUEUE] exp1_resumes checkpointed (exit 85): requeue 1, it runs again (no retry used)',
    '[START] exp1_resumes (Priority: HIGH, attempt 2)',
  ]);
  expect(describeChanges(batchWith(requeued), batchWith(again), 1_000)).toEqual([
    '[START] exp1_resumes (Priority: HIGH, attempt 2)',
  ]);
});

test('status shows the requeues of a running experiment; the summary counts them beside its attempts', () => {
  const view = liveBatchView(batchWith(again), 'running', new Map(), Date.now());
  expect(statusLines(view)).toContainEqual(expect.stringMatching(/exp1_resumes \(.*attempt 2, 1 requeued/));
  const done: ExperimentRecord = { ...again, status: 'completed', exitCode: 0, closedAt: 5_000 };
  const summary = summarize(batchWith(done));
  expect(summary.experiments[0]).toMatchObject({ attempts: 2, requeues: 1 });
  expect(summaryRows(summary)[0][3]).toBe('2 (1 requeued)');
});
