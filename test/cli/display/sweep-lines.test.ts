/** Sweeps as `status`, `status --json`, `watch` and the final summary show them: members under their script. */
import { liveBatchView } from '../../../src/cli/display/batch-view.js';
import { describeChanges } from '../../../src/cli/display/events.js';
import { header, statusLines, summaryLines } from '../../../src/cli/display/render.js';
import { newBatchState, summarize } from '../../../src/model/batch-state.js';
import type { BatchState, ExperimentRecord, ExperimentSpec } from '../../../src/model/types.js';
import { testSettings } from '../../helpers/temporal.js';

const SETTINGS = testSettings({ experimentsDir: '/e', workDir: '/w', taskQueue: 'q' });

function member(lr: string, seed: number): ExperimentSpec {
  return {
    id: 'exp140',
    name: `exp140_lr_sweep[lr=${lr},seed=${seed}]`,
    file: 'exp140_lr_sweep.py',
    priority: 'high',
    params: { lr, seed: String(seed) },
  };
}

const plain: ExperimentSpec = { id: 'exp101', name: 'exp101_base', file: 'exp101_base.py', priority: 'critical' };
const queued: ExperimentRecord = { status: 'queued', attempts: 0, exitCode: null };
const running = (startedAt: number): ExperimentRecord => ({
  status: 'running',
  attempts: 1,
  exitCode: null,
  startedAt,
});
const completed: ExperimentRecord = { status: 'completed', attempts: 1, exitCode: 0, startedAt: 0, closedAt: 90_000 };
const failed: ExperimentRecord = {
  status: 'failed',
  attempts: 3,
  exitCode: 1,
  reason: 'exit-code',
  startedAt: 0,
  closedAt: 1_000,
  error: 'exited with code 1',
};

/** A plain script and a sweep of `members` members (lr × seed), with the records given, in that order. */
function batch(records: ExperimentRecord[], members = records.length - 1): BatchState {
  const lrs = ['1e-3', '3e-4', '1e-4'];
  const sweep = Array.from({ length: members }, (_, index) => member(lrs[index % 3], Math.floor(index / 3) + 1));
  const state = newBatchState('b-1', [plain, ...sweep], SETTINGS, 0);
  return { ...state, records, nextIndex: records.length };
}

test('status: the sweep in one line with its counts, then each member with its params, status and progress', () => {
  const now = 100_000;
  const records = [running(40_000), completed, running(70_000), failed, queued, queued];
  const runs = new Map([[2, { host: 'm', startedAt: 70_000, progress: { percent: 25 } }]]);
  const lines = statusLines(liveBatchView(batch(records), 'running', runs, now));
  const from = lines.indexOf('  Currently running:');
  expect(lines.slice(from)).toEqual([
    '  Currently running:',
    '    - exp101_base (1.0min, attempt 1)',
    '  exp140_lr_sweep  sweep of 5: 1 completed, 1 failed, 1 running, 2 queued',
    '    - [lr=1e-3,seed=1]  completed  attempt 1, 1.5min',
    '    - [lr=3e-4,seed=1]  running    30.0s, attempt 1, 25%, ETA 1.5min',
    '    - [lr=1e-4,seed=1]  failed     3 attempts, exit 1',
    '    - [lr=1e-3,seed=2]  queued',
    '    - [lr=3e-4,seed=2]  queued',
  ]);
});

test('status of a 1,000-member sweep: its running members, 10 more (failed first), the rest counted', () => {
  const records = [
    completed,
    ...Array<ExperimentRecord>(400).fill(completed),
    ...Array<ExperimentRecord>(20).fill(running(0)),
    ...Array<ExperimentRecord>(3).fill(failed),
    ...Array<ExperimentRecord>(577).fill(queued),
  ];
  const view = liveBatchView(batch(records), 'running', new Map(), 60_000);
  const lines = statusLines(view);
  const sweepLines = lines.slice(
    lines.indexOf('  exp140_lr_sweep  sweep of 1000: 400 completed, 3 failed, 20 running, 577 queued'),
  );
  expect(sweepLines).toHaveLength(1 + 20 + 10 + 1);
  expect(sweepLines.filter((line) => / failed /.test(line))).toHaveLength(3);
  expect(sweepLines.at(-1)).toMatch(
    /^ {4}… and 970 more: 393 completed, 577 queued \(.*status b-1 --members lists every member\)$/,
  );
  const all = statusLines(view, true);
  expect(all.length - lines.length).toBe(970 - 1);
});

test('status --json: each member with its params and sweep, and each sweep with its counts', () => {
  const view = liveBatchView(batch([completed, completed, queued, running(0)]), 'running', new Map(), 60_000);
  expect(view.experiments[0]).not.toHaveProperty('sweep');
  expect(view.experiments[1]).toMatchObject({
    name: 'exp140_lr_sweep[lr=1e-3,seed=1]',
    sweep: 'exp140_lr_sweep',
    params: { lr: '1e-3', seed: '1' },
    status: 'completed',
  });
  expect(view.sweeps).toEqual([
    {
      sweep: 'exp140_lr_sweep',
      members: 3,
      counts: expect.objectContaining({ completed: 1, queued: 1, running: 1, failed: 0 }),
    },
  ]);
  expect(liveBatchView(batch([queued], 0), 'running', new Map(), 0)).not.toHaveProperty('sweeps');
});

test("watch names the member in its events, and gives its sweep's counts when members ended", () => {
  const before = batch([running(0), running(0), queued, queued]);
  const started = batch([running(0), running(0), running(1_000), queued]);
  expect(describeChanges(before, started, 2_000)).toEqual(['[START] exp140_lr_sweep[lr=3e-4,seed=1] (Priority: HIGH)']);
  const ended = batch([completed, completed, failed, running(3_000)]);
  expect(describeChanges(started, ended, 4_000)).toEqual([
    '[DONE] exp101_base (Duration: 1.5min)',
    '[DONE] exp140_lr_sweep[lr=1e-3,seed=1] (Duration: 1.5min)',
    // Seen running at attempt 1, then failed after 3: attempts 1 and 2 ended between the two snapshots.
    '[MISSED] exp140_lr_sweep[lr=3e-4,seed=1] attempts 1-2 ended unseen by this view; ' +
      'the batch keeps only the last end',
    '[FAIL] exp140_lr_sweep[lr=3e-4,seed=1] after 3 attempt(s) (exit 1): exited with code 1',
    '[START] exp140_lr_sweep[lr=1e-4,seed=1] (Priority: HIGH)',
    '[SWEEP] exp140_lr_sweep  sweep of 3: 1 completed, 1 failed, 1 running',
  ]);
});

test('the final summary: plain experiments in the table, then each sweep with its counts, params as columns', () => {
  const lines = summaryLines(summarize(batch([completed, completed, failed, completed])));
  const from = lines.findIndex((line) => line.startsWith('SUMMARY'));
  expect(lines.slice(from)).toEqual([
    'SUMMARY b-1: 3 completed, 1 failed, 0 cancelled',
    '='.repeat(70),
    'experiment   priority  status     attempts  duration  reason',
    'exp101_base  critical  completed         1  1.5min    -',
    '',
    'exp140_lr_sweep  sweep of 3: 2 completed, 1 failed',
    '  member                           lr    seed  status     attempts  duration  reason',
    '  exp140_lr_sweep[lr=1e-3,seed=1]  1e-3  1     completed         1  1.5min    -',
    '  exp140_lr_sweep[lr=3e-4,seed=1]  3e-4  1     failed            3  1.0s      exit-code',
    '  exp140_lr_sweep[lr=1e-4,seed=1]  1e-4  1     completed         1  1.5min    -',
  ]);
  const long = summarize(batch([completed, ...Array<ExperimentRecord>(30).fill(completed)]));
  expect(summaryLines(long).at(-1)).toMatch(
    /^ {2}… and 20 more: 20 completed \(.*status b-1 --members lists every member\)$/,
  );
  expect(summaryLines(long, true).filter((line) => line.startsWith('  exp140_lr_sweep['))).toHaveLength(30);
});

test('the final summary details the failures of 10 members per sweep, unless every member is asked for', () => {
  const summary = summarize(batch([failed, ...Array<ExperimentRecord>(30).fill(failed)]));
  const details = (lines: string[]) => lines.filter((line) => line.startsWith('[FAILED]'));
  expect(details(summaryLines(summary))).toHaveLength(1 + 10);
  expect(details(summaryLines(summary, true))).toHaveLength(1 + 30);
});

test("the batch's header names each sweep and its size", () => {
  const lines = header(batch([queued, queued, queued]));
  expect(lines.slice(lines.indexOf('     Low: 0') + 1, -1)).toEqual(['     Sweep exp140_lr_sweep: 2 members']);
  expect(header(batch([queued], 0))).not.toContainEqual(expect.stringContaining('Sweep'));
});

test("the header gives the run's --timeout, and the warning --signal-before sends", () => {
  const state = batch([queued]);
  const untimed = { ...state, settings: { ...state.settings, timeoutMs: null } };
  expect(header(untimed)).not.toContainEqual(expect.stringContaining('Timeout'));
  const timed = { ...state, settings: { ...state.settings, timeoutMs: 5_400_000 } };
  expect(header(timed)).toContain('Timeout: 1.5h');
  const warned = { ...timed, settings: { ...timed.settings, signalBeforeMs: 300_000 } };
  expect(header(warned)).toContain('Timeout: 1.5h (SIGUSR1 5.0min before)');
});
