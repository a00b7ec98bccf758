/** A paused run as `watch`, `status` and `pause`/`resume <batchId> <exp>` show it. */
import { describeChanges } from '../../../src/cli/display/events.js';
import { liveBatchView } from '../../../src/cli/display/batch-view.js';
import { statusLines } from '../../../src/cli/display/render.js';
import { runPauseLines } from '../../../src/cli/display/steer.js';
import { newBatchState } from '../../../src/model/batch-state.js';
import type { BatchState, ExperimentRecord } from '../../../src/model/types.js';
import type { SteerAnswer } from '../../../src/model/steering.js';
import { testSettings } from '../../helpers/temporal.js';

function batchWith(...records: ExperimentRecord[]): BatchState {
  const experiments = records.map((_, index) => ({
    id: `exp${index + 1}`,
    name: `exp${index + 1}_run`,
    file: `exp${index + 1}_run.sh`,
    priority: 'high' as const,
  }));
  const settings = testSettings({ experimentsDir: '/e', workDir: '/w', taskQueue: 'q' });
  return { ...newBatchState('b', experiments, settings, 0), records, nextIndex: records.length };
}

const running: ExperimentRecord = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
const paused: ExperimentRecord = { ...running, pausedSince: 1_000 };

test('watch prints [PAUSE] and [RESUME] for the same run frozen and thawed, nothing for a run that ends', () => {
  expect(describeChanges(batchWith(running, running), batchWith(paused, running), 2_000)).toEqual([
    '[PAUSE] exp1_run: its run is frozen, its --timeout clock stopped',
  ]);
  expect(describeChanges(batchWith(paused), batchWith(running), 2_000)).toEqual(['[RESUME] exp1_run: its run goes on']);
  const done: ExperimentRecord = { ...running, status: 'completed', exitCode: 0, closedAt: 3_000 };
  expect(describeChanges(batchWith(paused), batchWith(done), 3_000)).toEqual(['[DONE] exp1_run (Duration: 3.0s)']);
});

test('status shows each paused run and since when; status --json its pausedSince', () => {
  const now = Date.now();
  const view = liveBatchView(batchWith({ ...running, pausedSince: now - 40_000 }, running), 'running', new Map(), now);
  expect(view.experiments.map((e) => e.pausedSince)).toEqual([new Date(now - 40_000).toISOString(), undefined]);
  const lines = statusLines(view);
  expect(lines).toContainEqual(
    expect.stringMatching(/^ {2}\[PAUSED\] exp1_run for 4\d\.\ds: its run is frozen until resume$/),
  );
  expect(lines).toContainEqual(expect.stringMatching(/- exp1_run \(.*attempt 1, paused/));
  expect(lines.filter((line) => line.includes('[PAUSED]'))).toHaveLength(1);
});

test('a paused run shows no ETA: a frozen run makes no progress', () => {
  const now = Date.now();
  const heartbeat = { host: 'm', startedAt: now - 30_000, progress: { percent: 15 } };
  const runs = new Map([
    [0, heartbeat],
    [1, heartbeat],
  ]);
  const view = liveBatchView(batchWith({ ...running, pausedSince: now - 10_000 }, running), 'running', runs, now);
  expect(view.experiments.map((e) => e.etaSeconds)).toEqual([null, 170]);
});

test('pause and resume say what became of each run', () => {
  const answer = (experiments: SteerAnswer['experiments']): SteerAnswer => ({
    maxConcurrent: 2,
    maxRetries: 0,
    pausedSince: null,
    experiments,
  });
  const one = { name: 'exp1_run', priority: 'high' as const, place: null };
  expect(runPauseLines(true, answer([{ ...one, status: 'running', pausedSince: 0 }]))).toEqual([
    '[PAUSE] exp1_run: frozen since 1970-01-01T00:00:00.000Z; its --timeout clock is stopped',
  ]);
  expect(runPauseLines(true, answer([{ ...one, status: 'running' }]))).toEqual([
    '[PAUSE] exp1_run: not yet: no worker on its machine has answered (it is carried out once one does), or its ' +
      'run was started by a staged that cannot freeze it',
  ]);
  expect(runPauseLines(false, answer([{ ...one, status: 'running' }]))).toEqual(['[RESUME] exp1_run: running again']);
  expect(runPauseLines(false, answer([{ ...one, status: 'completed' }]))).toEqual([
    '[RESUME] exp1_run: completed, its run no longer goes on',
  ]);
});
