/**
 * The summary table's attempts column says which runs used no retry: lost with their worker, or requeued; its reason
 * column, why a skipped experiment did not start.
 */
import { summaryRows } from '../../src/model/summary-table.js';
import type { ExperimentSummary } from '../../src/model/types.js';

const completed: ExperimentSummary = {
  id: 'exp1',
  name: 'exp1_train',
  priority: 'high',
  status: 'completed',
  attempts: 1,
  exitCode: 0,
  reason: null,
  startedAt: '2026-12-06T10:00:00.000Z',
  closedAt: '2026-12-06T10:03:00.000Z',
};

test('attempts: a plain count, or the count with its lost and requeued runs beside it', () => {
  const rows = summaryRows({
    batchId: 'b',
    experiments: [
      completed,
      { ...completed, attempts: 2, lostRuns: 1 },
      { ...completed, attempts: 4, lostRuns: 1, requeues: 2 },
    ],
  });
  expect(rows.map((row) => row[3])).toEqual(['1', '2 (1 lost)', '4 (1 lost, 2 requeued)']);
});

test('reason: the end reason, or for a skipped experiment the one it ran after and how that ended', () => {
  const rows = summaryRows({
    batchId: 'b',
    experiments: [
      completed,
      { ...completed, status: 'failed', exitCode: 1, reason: 'exit-code' },
      { ...completed, name: 'exp4_eval', status: 'skipped', attempts: 0, error: 'not started: exp3_fail failed' },
    ],
  });
  expect(rows.map((row) => row[5])).toEqual(['-', 'exit-code', 'after exp3_fail failed']); // was '-' for the third
});
