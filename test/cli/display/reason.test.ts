/** Why an attempt ended (`reason`) reaches the event lines and the summary table. */
import { describeChanges } from '../../../src/cli/display/events.js';
import { summaryLines } from '../../../src/cli/display/render.js';
import { newBatchState } from '../../../src/model/batch-state.js';
import { summaryMarkdown } from '../../../src/model/summary-table.js';
import type { BatchState, BatchSummary, ExperimentRecord } from '../../../src/model/types.js';
import { testSettings } from '../../helpers/temporal.js';

function batchWith(...records: ExperimentRecord[]): BatchState {
  const experiments = records.map((_, index) => ({
    id: `exp${index + 1}`,
    name: `exp${index + 1}_run`,
    file: `exp${index + 1}_run.sh`,
    priority: 'high' as const,
  }));
  const state = newBatchState(
    'b',
    experiments,
    testSettings({ experimentsDir: '/e', workDir: '/w', taskQueue: 'q' }),
    0,
  );
  return { ...state, records };
}

const running: ExperimentRecord = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };

test.each<[string, ExperimentRecord[], ExperimentRecord[], string[]]>([
  [
    '[RETRY] and [FAIL] lines say why the attempt ended',
    [running, running, running, running],
    [
      {
        status: 'failed',
        attempts: 1,
        exitCode: null,
        reason: 'timeout',
        startedAt: 0,
        closedAt: 1000,
        error: 'exceeded --timeout 1s',
      },
      { status: 'retrying', attempts: 1, exitCode: 3, reason: 'exit-code', startedAt: 0 },
      {
        status: 'failed',
        attempts: 1,
        exitCode: null,
        reason: 'signal',
        startedAt: 0,
        closedAt: 1000,
        error: 'killed by SIGKILL',
      },
      { status: 'retrying', attempts: 1, exitCode: null, reason: 'worker-lost', startedAt: 0 },
    ],
    [
      '[FAIL] exp1_run after 1 attempt(s) (timeout): exceeded --timeout 1s',
      '[RETRY] exp2_run attempt 1 failed (exit 3); retrying',
      '[FAIL] exp3_run after 1 attempt(s) (signal): killed by SIGKILL',
      '[RETRY] exp4_run attempt 1 failed (worker-lost); retrying',
    ],
  ],
  [
    '[START] when a process starts (with its attempt from the second on, also for runs too short to be seen), ' +
      '[LOST] when a worker was lost',
    [
      { status: 'queued', attempts: 0, exitCode: null },
      { status: 'retrying', attempts: 1, exitCode: 3, reason: 'exit-code', startedAt: 0 },
      { status: 'queued', attempts: 0, exitCode: null },
      { status: 'running', attempts: 1, exitCode: null, startedAt: 0 },
    ],
    [
      { status: 'running', attempts: 1, exitCode: null, startedAt: 0 },
      { status: 'running', attempts: 2, exitCode: null, startedAt: 0 },
      { status: 'completed', attempts: 1, exitCode: 0, startedAt: 0, closedAt: 1000 },
      {
        status: 'queued',
        attempts: 1,
        exitCode: null,
        reason: 'worker-lost',
        startedAt: 0,
        error: 'activity ScheduleToStart timeout (no worker adopted run 1)',
      },
    ],
    [
      '[START] exp1_run (Priority: HIGH)',
      '[START] exp2_run (Priority: HIGH, attempt 2)',
      '[START] exp3_run (Priority: HIGH)',
      '[DONE] exp3_run (Duration: 1.0s)',
      '[LOST] exp4_run attempt 1 was lost (activity ScheduleToStart timeout (no worker adopted run 1)); ' +
        'it runs again (no retry used)',
    ],
  ],
])('%s', (_name, before, after, lines) => {
  expect(describeChanges(batchWith(...before), batchWith(...after), 1000)).toEqual(lines);
});

test('the summary table and summary.md have a reason column', () => {
  const summary: BatchSummary = {
    batchId: 'b',
    experiments: [
      {
        id: 'exp1',
        name: 'exp1_run',
        priority: 'high',
        status: 'failed',
        attempts: 1,
        exitCode: null,
        reason: 'timeout',
        startedAt: '2026-01-01T00:00:00.000Z',
        closedAt: '2026-01-01T00:00:05.000Z',
      },
      {
        id: 'exp2',
        name: 'exp2_run',
        priority: 'low',
        status: 'completed',
        attempts: 1,
        exitCode: 0,
        reason: null,
        startedAt: '2026-01-01T00:00:00.000Z',
        closedAt: '2026-01-01T00:00:02.000Z',
      },
    ],
  };
  const table = summaryLines(summary);
  expect(table.at(-3)).toMatch(/^experiment\s+priority\s+status\s+attempts\s+duration\s+reason$/);
  expect(table.at(-2)).toMatch(/^exp1_run\s+high\s+failed\s+1\s+5\.0s\s+timeout$/);
  expect(table.at(-1)).toMatch(/^exp2_run\s+low\s+completed\s+1\s+2\.0s\s+-$/);
  expect(summaryMarkdown(summary)).toContain('| exp1_run | high | failed | 1 | 5.0s | timeout |');
});

test(
  'a worker lost between two polls still gets its [LOST] line; the summary shows each failure with its log and ' +
    'last lines',
  () => {
    const before = batchWith({ status: 'running', attempts: 1, exitCode: null, startedAt: 0 });
    const after = batchWith({ status: 'running', attempts: 2, exitCode: null, reason: 'worker-lost', startedAt: 0 });
    expect(describeChanges(before, after, 1000)).toEqual([
      '[LOST] exp1_run attempt 1 was lost; it runs again (no retry used)',
      '[START] exp1_run (Priority: HIGH, attempt 2)',
    ]);

    const failed = {
      id: 'exp1',
      name: 'exp1_run',
      priority: 'high' as const,
      status: 'failed' as const,
      attempts: 1,
      exitCode: 5,
      reason: 'exit-code' as const,
    };
    const times = { startedAt: '2026-01-01T00:00:00.000Z', closedAt: '2026-01-01T00:00:01.000Z' };
    const lines = summaryLines({
      batchId: 'b',
      experiments: [
        {
          ...failed,
          ...times,
          error: 'exp1_run attempt 1 exited with code 5; log: /l/attempt-1.log\nloading data\nKeyError: AAPL',
        },
      ],
    });
    expect(lines.slice(0, 5)).toEqual([
      '',
      '[FAILED] exp1_run attempt 1 exited with code 5; log: /l/attempt-1.log',
      '    loading data',
      '    KeyError: AAPL',
      '',
    ]);
  },
);

test('[LOST] says what the record knows: a dead keeper is told apart from a worker shutting down', () => {
  const before = batchWith(running, running);
  const lost = (error: string): ExperimentRecord => ({ ...running, status: 'queued', reason: 'worker-lost', error });
  const after = batchWith(
    lost('exp1_run run 1 was stopped (abandoned); it will run again'),
    lost('exp2_run run 1 was stopped (shutdown); it will run again'),
  );
  expect(describeChanges(before, after, 1000)).toEqual([
    '[LOST] exp1_run attempt 1 was lost: its keeper died without recording an end; it runs again (no retry used)',
    '[LOST] exp2_run attempt 1 was lost: its worker stopped it while shutting down; it runs again (no retry used)',
  ]);
  const survived = batchWith(
    lost('exp1_run run 1 was stopped (abandoned; 1 process of it outlived its SIGKILL (pid 42)); it will run again'),
    running,
  );
  expect(describeChanges(before, survived, 1000)).toEqual([
    '[LOST] exp1_run attempt 1 was lost: its keeper died without recording an end; 1 process of it outlived its ' +
      'SIGKILL (pid 42); it runs again (no retry used)',
  ]);
});
