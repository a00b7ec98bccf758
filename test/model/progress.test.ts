/** The ETAs built on progress (keeper/progress_test.go tests reading it from output): pure logic. */
import { commandHint } from '../../src/cli/invocation.js';
import { displayFor, fitToScreen } from '../../src/cli/display/display.js';
import { batchEtaMs, runEtaMs, runLeftMs } from '../../src/cli/display/eta.js';
import { newBatchState } from '../../src/model/batch-state.js';
import type { BatchSettings, ExperimentSpec, RunHeartbeat } from '../../src/model/types.js';
import { liveBatchView } from '../../src/cli/display/batch-view.js';
import { statusLines } from '../../src/cli/display/render.js';

describe('ETAs', () => {
  test('a run 25% done after 10 s needs 30 s more; none before any progress', () => {
    expect(runEtaMs(10_000, 25)).toBe(30_000);
    expect(runEtaMs(10_000, 0)).toBeUndefined();
    expect(runEtaMs(10_000, undefined)).toBeUndefined();
    expect(runEtaMs(10_000, 100)).toBe(0);
  });

  test('a run that reported once, early, is not taken for nearly done', () => {
    const run: RunHeartbeat = { host: 'h', startedAt: 0, progress: { percent: 50 }, progressAt: 10 };
    expect(runLeftMs(run, 4_000)).toBe(4_000);
    expect(runLeftMs(run, 30_000)).toBe(30_000);
    expect(runLeftMs({ host: 'h', startedAt: 0 }, 30_000)).toBeUndefined();
  });

  test('a run resumed from its checkpoint: its ETA is its own pace since its first report, not its head start', () => {
    // Resumed at 15/36 (41.7%), 3 s in; 21.6 s in it is at 19/36 (52.8%): 4 steps in 18.6 s, 17 steps left.
    const run: RunHeartbeat = {
      host: 'h',
      startedAt: 0,
      progress: { percent: 52.8, done: 19, total: 36 },
      progressAt: 21_600,
      firstProgress: { percent: 41.7, at: 3_000 },
    };
    expect(runLeftMs(run, 21_600)).toBe(Math.round((18_600 * 47.2) / 11.1));
    expect(runLeftMs(run, 21_600)).toBeGreaterThan(70_000);
    expect(runLeftMs({ ...run, firstProgress: { percent: 52.8, at: 21_600 } }, 21_600)).toBe(19_309);
  });

  test('a run frozen 2 min and resumed: its pace counts only the time it was not frozen', () => {
    // PROGRESS i/120 once a second; first report 1/120 at 1 s; frozen at 16/120 for 120 s; now 78/120 at 198 s.
    const run: RunHeartbeat = {
      host: 'h',
      startedAt: 0,
      progress: { percent: (78 / 120) * 100, done: 78, total: 120 },
      progressAt: 198_000,
      frozenMs: 120_000,
      firstProgress: { percent: (1 / 120) * 100, at: 1_000, frozenMs: 0 },
    };
    expect(runLeftMs(run, 198_000)).toBe(42_000); // 42 steps left at 1 s each (wall clock said 107 s)
    // Frozen again at 199 s: while frozen its time left stays, whatever the wall clock says.
    expect(runLeftMs(run, 199_000, 199_000)).toBe(runLeftMs(run, 199_000));
    expect(runLeftMs(run, 500_000, 199_000)).toBe(runLeftMs(run, 199_000));
    // Frozen before its first report: only what came after that report counts.
    const frozenEarly = { ...run, frozenMs: 150_000, firstProgress: { ...run.firstProgress!, frozenMs: 30_000 } };
    expect(runLeftMs(frozenEarly, 198_000)).toBe(42_000);
    // No first report kept (a keeper before 2026-12-06): from its start, frozen time left out too.
    expect(runLeftMs({ ...run, firstProgress: undefined }, 198_000)).toBe(Math.round((78_000 * 42) / 78));
    // A keeper before 2026-12-07 says nothing of frozen time: the wall clock, as before.
    const older = { ...run, frozenMs: undefined, firstProgress: { percent: (1 / 120) * 100, at: 1_000 } };
    expect(runLeftMs(older, 198_000)).toBe(Math.round((197_000 * 42) / 77));
  });

  const settings = { maxConcurrent: 2 } as BatchSettings;
  const experiments: ExperimentSpec[] = ['a', 'b', 'c', 'd', 'e'].map((name) => ({
    id: name,
    name,
    file: name,
    priority: 'high',
  }));

  test('queued work at the mean finished duration, spread over the slots', () => {
    const state = newBatchState('b', experiments, settings, 0);
    state.records[0] = { status: 'completed', attempts: 1, exitCode: 0, startedAt: 0, closedAt: 10_000 };
    state.records[1] = { status: 'completed', attempts: 1, exitCode: 0, startedAt: 0, closedAt: 30_000 };
    state.records[2] = { status: 'running', attempts: 0, exitCode: null, startedAt: 30_000 };
    state.records[3] = { status: 'running', attempts: 0, exitCode: null, startedAt: 30_000 };
    const runs = new Map<number, RunHeartbeat>([
      [2, { host: 'h', startedAt: 30_000, progress: { percent: 50 }, progressAt: 35_000 }],
    ]);
    // left: c 5 s (50% after 5 s), d 20 - 5 = 15 s (no progress: mean 20 s), e 20 s queued → 40 s over 2 slots.
    expect(batchEtaMs(state, runs, 35_000)).toBe(20_000);
  });

  test('the batch ETA counts a frozen run by its pace while not frozen', () => {
    const state = newBatchState('b', experiments.slice(0, 1), settings, 0);
    state.records[0] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0, pausedSince: 20_000 };
    const runs = new Map<number, RunHeartbeat>([
      [
        0,
        {
          host: 'h',
          startedAt: 0,
          progress: { percent: 20 },
          progressAt: 20_000,
          frozenMs: 0,
          firstProgress: { percent: 10, at: 10_000, frozenMs: 0 },
        },
      ],
    ]);
    // 10% in 10 s not frozen, 80% left: 80 s, then as 2 min later.
    expect(batchEtaMs(state, runs, 20_000)).toBe(80_000);
    expect(batchEtaMs(state, runs, 140_000)).toBe(80_000);
  });

  test('never less than the longest running experiment needs', () => {
    const state = newBatchState('b', experiments.slice(0, 2), settings, 0);
    state.records[0] = { status: 'completed', attempts: 1, exitCode: 0, startedAt: 0, closedAt: 1_000 };
    state.records[1] = { status: 'running', attempts: 0, exitCode: null, startedAt: 0 };
    const runs = new Map<number, RunHeartbeat>([
      [1, { host: 'h', startedAt: 0, progress: { percent: 10 }, progressAt: 10_000 }],
    ]);
    expect(batchEtaMs(state, runs, 10_000)).toBe(90_000);
  });

  test('unknown, not 0, when all that is left runs past the typical duration without progress', () => {
    const state = newBatchState('b', experiments.slice(0, 3), settings, 0);
    state.records[0] = { status: 'completed', attempts: 1, exitCode: 0, startedAt: 0, closedAt: 10_000 };
    state.records[1] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
    state.records[2] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
    const runs = new Map<number, RunHeartbeat>([[2, { host: 'h', startedAt: 0, progress: { percent: 100 } }]]);
    expect(batchEtaMs(state, runs, 60_000)).toBeUndefined();
    expect(batchEtaMs(state, runs, 5_000)).toBe(5_000); // within the typical duration: its rest of it
  });

  test('unknown until something finished or reported progress', () => {
    const state = newBatchState('b', experiments, settings, 0);
    state.records[0] = { status: 'running', attempts: 0, exitCode: null, startedAt: 0 };
    expect(batchEtaMs(state, new Map(), 5_000)).toBeUndefined();
  });
});

describe('the live status block on a terminal', () => {
  test('is cut to the screen, saying how many lines it left out', () => {
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}`);
    const fitted = fitToScreen(lines, 20);
    expect(fitted).toHaveLength(18);
    expect(fitted[16]).toBe('line 16');
    expect(fitted[17]).toBe(`    … and 33 more (${commandHint('status', ['<batchId>'])} lists all)`);
    expect(fitToScreen(lines.slice(0, 5), 20)).toEqual(lines.slice(0, 5));
  });

  test('is live only on a terminal with a size: a pseudo-terminal of 0 rows gets plain lines', () => {
    const terminal = (isTTY: boolean, rows: number) =>
      ({ isTTY, rows, columns: 80, write: () => true }) as unknown as NodeJS.WriteStream;
    expect(displayFor(terminal(true, 40)).live).toBe(true);
    expect(displayFor(terminal(true, 0)).live).toBe(false);
    expect(displayFor(terminal(false, 40)).live).toBe(false);
    expect(displayFor(terminal(true, 40), true).live).toBe(false);
  });
});

test(
  'a running experiment whose worker has not been heard from for a while says so; a recent heartbeat says ' + 'nothing',
  () => {
    const experiments: ExperimentSpec[] = ['a', 'b'].map((name) => ({ id: name, name, file: name, priority: 'high' }));
    const state = newBatchState('b', experiments, { maxConcurrent: 2 } as BatchSettings, 0);
    state.records[0] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
    state.records[1] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
    const runs = new Map<number, RunHeartbeat>([
      [0, { host: 'h', startedAt: 0, heardAt: 15_000 }],
      [1, { host: 'h', startedAt: 0, heardAt: 58_000 }],
    ]);
    const view = liveBatchView(state, 'running', runs, 60_000);
    expect(view.experiments.map((experiment) => experiment.workerSilentSeconds)).toEqual([45, undefined]);
    expect(statusLines(view)).toContain('    - a (1.0min, attempt 1, no word from its worker for 45.0s)');
  },
);

test("a silent worker's run shows no ETA: its progress stopped with its heartbeats, not with its work", () => {
  const experiments: ExperimentSpec[] = ['a', 'b'].map((name) => ({ id: name, name, file: name, priority: 'high' }));
  const state = newBatchState('b', experiments, { maxConcurrent: 2 } as BatchSettings, 0);
  state.records[0] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
  state.records[1] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
  const halfway = { host: 'h', startedAt: 0, progress: { done: 5, total: 10, percent: 50 }, progressAt: 10_000 };
  const runs = new Map<number, RunHeartbeat>([
    [0, { ...halfway, heardAt: 10_000 }],
    [1, { ...halfway, heardAt: 58_000 }],
  ]);
  const view = liveBatchView(state, 'running', runs, 60_000);
  expect(view.experiments.map((experiment) => experiment.etaSeconds)).toEqual([null, 60]);
});

test("a metered experiment's calls so far appear in status, by quota; one without calls shows none", () => {
  const experiments: ExperimentSpec[] = ['a', 'b'].map((name) => ({ id: name, name, file: name, priority: 'high' }));
  const state = newBatchState('b', experiments, { maxConcurrent: 2 } as BatchSettings, 0);
  state.records[0] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
  state.records[1] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
  const runs = new Map<number, RunHeartbeat>([
    [0, { host: 'h', startedAt: 0, calls: { yahoo: 120, fred: 3 } }],
    [1, { host: 'h', startedAt: 0 }],
  ]);
  const view = liveBatchView(state, 'running', runs, 60_000);
  expect(view.experiments.map((experiment) => experiment.calls)).toEqual([{ yahoo: 120, fred: 3 }, undefined]);
  expect(statusLines(view)).toContain('    - a (1.0min, attempt 1, 120 yahoo calls, 3 fred calls)');
  expect(statusLines(view)).toContain('    - b (1.0min, attempt 1)');
});
