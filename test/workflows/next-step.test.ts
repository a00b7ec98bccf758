/** What the experiment loop does once an attempt ends: a table of endings, counters and the step decided. */
import {
  adoptingRecord,
  firstLoopState,
  nextStep,
  requeued,
  restartAfterWindow,
  retryAllowed,
  retryCalledOff,
  type AttemptEnd,
  type LoopState,
  type Step,
} from '../../src/workflows/next-step.js';
import type { ExperimentRecord, RunFailureDetails, RunLocation } from '../../src/model/types.js';

const NOW = 1_000_000;
const settings = { maxRetries: 2, retryDelayMs: 10_000, retryTimeouts: false, killGraceMs: 10_000 };
/** As every experiment started since `patched('fruitless-starts-reset')`. */
const at = { attemptAt: NOW - 1_000, now: NOW, settings, workflowId: 'b/exp1', forgetsFruitlessStarts: true };
/** Experiments started before that patch. */
const beforeForgetting = { forgetsFruitlessStarts: false };
/** Adoption window 60 s + kill grace 10 s + margin 5 s. */
const WINDOW_MS = 75_000;

const home = (run: number, runKey = `key${run}`): RunLocation => ({
  machineId: 'm1',
  hostQueue: 'staged@m1',
  runKey,
  run,
  adoptWindowMs: 60_000,
});
const queued: ExperimentRecord = { status: 'queued', attempts: 0, exitCode: null };
const running: ExperimentRecord = { status: 'running', attempts: 1, exitCode: null, startedAt: 500 };
const failedRun = (fields: Partial<RunFailureDetails> = {}): RunFailureDetails => ({
  run: 1,
  exitCode: 3,
  signal: null,
  reason: 'exit-code',
  logFile: 'exp1.log',
  startedAt: 600,
  endedAt: 900,
  ...fields,
});
const failed = (fields: Partial<RunFailureDetails> = {}): AttemptEnd => ({
  kind: 'run-failed',
  runnable: true,
  details: failedRun(fields),
  message: 'exit 3',
});
const heartbeatLost: AttemptEnd = { kind: 'activity-timeout', scheduleToStart: false, message: 'heartbeat timeout' };
const heartbeatLostAt = (location: RunLocation): AttemptEnd => ({
  ...heartbeatLost,
  heartbeat: { ...location, host: 'm1', startedAt: 500 },
});
const neverPickedUp: AttemptEnd = { kind: 'activity-timeout', scheduleToStart: true, message: 'schedule to start' };
const letGo = (location: RunLocation): AttemptEnd => ({
  kind: 'run-lost',
  details: { location, stopped: false, started: true },
  message: 'worker shutting down',
});
const handedBack = (tryQueue?: string): AttemptEnd => ({
  kind: 'run-lost',
  details: { stopped: true, started: false, tryQueue },
  message: 'not served here',
});
const withWatchdog = firstLoopState(true);
const noWatchdog = firstLoopState(false);

interface Case {
  name: string;
  loop?: Partial<LoopState>;
  /** Default: a loop with the watchdog, as every experiment started since it has. */
  base?: LoopState;
  record?: ExperimentRecord;
  end: AttemptEnd;
  when?: Partial<typeof at>;
  step: Step;
  /** The loop's fields that change (or must hold) after the step. */
  then?: Partial<LoopState>;
  unheldSince?: number;
}

const CASES: Case[] = [
  // A run that ends.
  {
    name: 'completed: the run exits 0; its start and calls add to the record',
    record: { ...running, calls: { api: 2 } },
    end: { kind: 'completed', outcome: { run: 1, startedAt: 700, endedAt: 950, calls: { api: 3 } } },
    step: {
      kind: 'complete',
      record: { ...running, status: 'completed', exitCode: 0, calls: { api: 5 } },
      endedAt: 950,
    },
  },
  {
    name: 'completed before its start was announced: attempts and start from the outcome',
    end: { kind: 'completed', outcome: { run: 2, startedAt: 700 } },
    record: queued,
    step: { kind: 'complete', record: { ...queued, status: 'completed', attempts: 2, exitCode: 0, startedAt: 700 } },
  },
  // Failures: retry after D, or give up.
  {
    name: 'failed, retries left: retry after the retry delay, on the next run',
    record: running,
    end: failed(),
    step: {
      kind: 'retry',
      afterMs: 10_000,
      endedAt: 900,
      report: {
        ...running,
        status: 'retrying',
        exitCode: 3,
        reason: 'exit-code',
        error: 'exit 3',
        retryAt: NOW + 10_000,
      },
    },
    then: { failedRuns: 1, nextRun: 2 },
  },
  {
    name: 'failed again: the delay doubles',
    loop: { failedRuns: 1, nextRun: 2 },
    record: { ...running, attempts: 2 },
    end: failed({ run: 2 }),
    step: {
      kind: 'retry',
      afterMs: 20_000,
      endedAt: 900,
      report: {
        ...running,
        attempts: 2,
        status: 'retrying',
        exitCode: 3,
        reason: 'exit-code',
        error: 'exit 3',
        retryAt: NOW + 20_000,
      },
    },
    then: { failedRuns: 2, nextRun: 3 },
  },
  {
    name: 'failed with every retry used: give up, the run ended when its keeper says',
    loop: { failedRuns: 2, nextRun: 3 },
    record: { ...running, attempts: 3 },
    end: failed({ run: 3 }),
    step: {
      kind: 'give-up',
      record: { ...running, attempts: 3, status: 'failed', exitCode: 3, reason: 'exit-code', error: 'exit 3' },
      endedAt: 900,
    },
  },
  {
    name: 'failed before its start was announced: attempts and start from the failure',
    loop: { failedRuns: 2 },
    record: queued,
    end: failed(),
    step: {
      kind: 'give-up',
      record: {
        ...queued,
        attempts: 1,
        status: 'failed',
        exitCode: 3,
        reason: 'exit-code',
        error: 'exit 3',
        startedAt: 600,
      },
      endedAt: 900,
    },
  },
  {
    name: 'timed out (the run’s own timeout): give up, retries left or not',
    record: running,
    end: failed({ reason: 'timeout', exitCode: null }),
    step: {
      kind: 'give-up',
      record: { ...running, status: 'failed', exitCode: null, reason: 'timeout', error: 'exit 3' },
      endedAt: 900,
    },
  },
  {
    name: 'timed out with retryTimeouts: retry',
    record: running,
    end: failed({ reason: 'timeout', exitCode: null }),
    when: { settings: { ...settings, retryTimeouts: true } },
    step: {
      kind: 'retry',
      afterMs: 10_000,
      endedAt: 900,
      report: {
        ...running,
        status: 'retrying',
        exitCode: null,
        reason: 'timeout',
        error: 'exit 3',
        retryAt: NOW + 10_000,
      },
    },
  },
  {
    name: 'not runnable: give up at once, no run counted, no end time',
    record: queued,
    end: { kind: 'run-failed', runnable: false, details: failedRun({ exitCode: null }), message: 'no such file' },
    step: {
      kind: 'give-up',
      record: { ...queued, status: 'failed', exitCode: null, reason: 'exit-code', error: 'no such file' },
    },
  },
  // Quota refusals: no retry used.
  {
    name: 'refused by a quota: wait at least 5 s, then the next run, using no retry',
    record: running,
    end: failed({ quotaLimited: {} }),
    step: {
      kind: 'quota-rerun',
      afterMs: 5_000,
      report: {
        ...running,
        status: 'waiting-quota',
        exitCode: 3,
        reason: 'exit-code',
        error: 'exit 3',
        retryAt: NOW + 5_000,
      },
    },
    then: { quotaReruns: 1, failedRuns: 0, nextRun: 2 },
  },
  {
    name: 'refused by a quota that names its pause: wait that long',
    record: running,
    end: failed({ quotaLimited: { retryAfterMs: 30_000 } }),
    step: {
      kind: 'quota-rerun',
      afterMs: 30_000,
      report: {
        ...running,
        status: 'waiting-quota',
        exitCode: 3,
        reason: 'exit-code',
        error: 'exit 3',
        retryAt: NOW + 30_000,
      },
    },
  },
  {
    name: 'refused by a quota 20 times already: the failure uses a retry',
    loop: { quotaReruns: 20 },
    record: running,
    end: failed({ quotaLimited: {} }),
    step: {
      kind: 'retry',
      afterMs: 10_000,
      endedAt: 900,
      report: {
        ...running,
        status: 'retrying',
        exitCode: 3,
        reason: 'exit-code',
        error: 'exit 3',
        retryAt: NOW + 10_000,
      },
    },
    then: { quotaReruns: 20, failedRuns: 1 },
  },
  // Lost runs: adopt where the run lives, or start again; no retry used.
  {
    name: 'heartbeats stopped after one named its home: adopt it there at once',
    record: running,
    end: heartbeatLostAt(home(1)),
    step: { kind: 'adopt', location: home(1) },
    then: { location: home(1), readopts: 0, adoptWindowMs: 60_000 },
    unheldSince: NOW,
  },
  {
    name: 'the worker let go of a run that lives on: adopt it there',
    record: running,
    end: letGo(home(1)),
    step: { kind: 'adopt', location: home(1) },
    then: { location: home(1) },
    unheldSince: NOW,
  },
  {
    name: 'the adoption of that run failed again: adopt again after a no-spin delay',
    loop: { location: home(1), readopts: 2 },
    record: running,
    end: { kind: 'error', message: 'boom' },
    step: { kind: 'adopt', location: home(1), afterMs: 4_000 },
    then: { location: home(1), readopts: 3 },
    unheldSince: NOW,
  },
  {
    name: 'an adoption whose heartbeats stopped: adopt again, after a no-spin delay',
    loop: { location: home(1) },
    record: running,
    end: heartbeatLost,
    step: { kind: 'adopt', location: home(1), afterMs: 1_000 },
    then: { readopts: 1 },
    unheldSince: NOW,
  },
  {
    name: 'an adoption that finds the run under another key: adopt that one at once',
    loop: { location: home(1), readopts: 4 },
    record: running,
    end: letGo(home(1, 'other')),
    step: { kind: 'adopt', location: home(1, 'other') },
    then: { readopts: 0, location: home(1, 'other') },
    unheldSince: NOW,
  },
  {
    name: 'a run adopted before its start was announced is shown running (after the step)',
    record: queued,
    end: heartbeatLostAt(home(1)),
    step: { kind: 'adopt', location: home(1) },
    unheldSince: NOW,
  },
  {
    name: 'no machine adopted the run within its window: it is surely stopped, the next run starts',
    loop: { location: home(1) },
    record: running,
    end: neverPickedUp,
    step: {
      kind: 'rerun-lost',
      report: {
        ...running,
        status: 'queued',
        reason: 'worker-lost',
        lostRuns: 1,
        error: 'schedule to start (no worker adopted run 1)',
      },
    },
    then: { location: undefined, nextRun: 2, failedRuns: 0 },
  },
  {
    name: 'let go and surely stopped: the next run starts, using no retry',
    record: running,
    end: { kind: 'run-lost', details: { stopped: true, started: true }, message: 'keeper gone' },
    step: {
      kind: 'rerun-lost',
      report: { ...running, status: 'queued', reason: 'worker-lost', error: 'keeper gone', lostRuns: 1 },
    },
    then: { nextRun: 2 },
  },
  {
    name: 'let go with no details: counted as started',
    record: running,
    end: { kind: 'run-lost', message: 'lost' },
    step: {
      kind: 'rerun-lost',
      report: { ...running, status: 'queued', reason: 'worker-lost', error: 'lost', lostRuns: 1 },
    },
  },
  {
    name: 'no heartbeat ever acknowledged: nothing started, start the same run again after a no-spin delay',
    record: queued,
    end: heartbeatLost,
    step: { kind: 'start-again', afterMs: 1_000 },
    then: { nextRun: 1, unstarted: 1, handedBackTo: undefined },
  },
  {
    name: 'a start that failed without telling how: start again after a longer no-spin delay',
    loop: { unstarted: 3 },
    record: queued,
    end: { kind: 'error', message: 'boom' },
    step: { kind: 'start-again', afterMs: 8_000 },
    then: { unstarted: 4 },
  },
  {
    name: 'handed back by a worker that does not serve the run: start it at once on the queue it names',
    record: queued,
    end: handedBack('staged@m2'),
    step: { kind: 'start-again' },
    then: { handedBackTo: 'staged@m2', unstarted: 0 },
  },
  {
    name: 'handed back a second time: start on the named queue after a no-spin delay',
    loop: { handedBackTo: 'staged@m2' },
    record: queued,
    end: handedBack('staged@m3'),
    step: { kind: 'start-again', afterMs: 1_000 },
    then: { handedBackTo: 'staged@m3', unstarted: 1 },
  },
  {
    name: 'a hand-back never picked up: start anywhere after a no-spin delay',
    loop: { handedBackTo: 'staged@m2' },
    record: queued,
    end: neverPickedUp,
    step: { kind: 'start-again', afterMs: 1_000 },
    then: { handedBackTo: undefined, unstarted: 1 },
  },
  // Only starts in a row that went nowhere back off; a step that knows the run started or was held counts from 0.
  {
    name: 'a run lost after it started: the count of starts that went nowhere starts again',
    loop: { unstarted: 6 },
    record: running,
    end: { kind: 'run-lost', details: { stopped: true, started: true }, message: 'keeper gone' },
    step: {
      kind: 'rerun-lost',
      report: { ...running, status: 'queued', reason: 'worker-lost', error: 'keeper gone', lostRuns: 1 },
    },
    then: { unstarted: 0, nextRun: 2 },
  },
  {
    name: 'a run held on a machine (to adopt): the count starts again',
    loop: { unstarted: 4 },
    record: running,
    end: heartbeatLostAt(home(1)),
    step: { kind: 'adopt', location: home(1) },
    then: { unstarted: 0, location: home(1) },
    unheldSince: NOW,
  },
  {
    name: 'a run that failed (to retry): the count starts again',
    loop: { unstarted: 4 },
    record: running,
    end: failed(),
    step: {
      kind: 'retry',
      afterMs: 10_000,
      endedAt: 900,
      report: {
        ...running,
        status: 'retrying',
        exitCode: 3,
        reason: 'exit-code',
        error: 'exit 3',
        retryAt: NOW + 10_000,
      },
    },
    then: { unstarted: 0, failedRuns: 1 },
  },
  {
    name: 'before the patch: a run lost after it started leaves the count grown',
    loop: { unstarted: 6 },
    record: running,
    end: { kind: 'run-lost', details: { stopped: true, started: true }, message: 'keeper gone' },
    when: beforeForgetting,
    step: {
      kind: 'rerun-lost',
      report: { ...running, status: 'queued', reason: 'worker-lost', error: 'keeper gone', lostRuns: 1 },
    },
    then: { unstarted: 6 },
  },
  // The watchdog: a run nobody can hold for a whole window starts again.
  {
    name: 'watchdog: another failed adoption of the run, still within the window',
    loop: { location: home(1), watchdog: { run: 1, unheldSince: NOW - WINDOW_MS } },
    record: running,
    end: { kind: 'error', message: 'boom' },
    step: { kind: 'adopt', location: home(1), afterMs: 1_000 },
    unheldSince: NOW - WINDOW_MS,
  },
  {
    name: 'watchdog: nobody held the run for longer than its window: keep away one more, then a fresh run',
    loop: { location: home(1), watchdog: { run: 1, unheldSince: NOW - WINDOW_MS - 1 } },
    record: running,
    end: { kind: 'error', message: 'boom' },
    step: {
      kind: 'restart-unheld',
      afterMs: WINDOW_MS,
      run: 1,
      error: 'no worker could hold run 1 for 75s (last failure: boom); it starts again, using no retry',
    },
    then: { location: undefined, watchdog: { run: undefined, unheldSince: NOW - WINDOW_MS - 1 }, failedRuns: 0 },
    unheldSince: NOW - WINDOW_MS - 1,
  },
  {
    name: 'watchdog: a start "never started" again and again while shown running, too',
    loop: { nextRun: 2, adoptWindowMs: 60_000, watchdog: { run: 2, unheldSince: NOW - WINDOW_MS - 1 } },
    record: { ...running, attempts: 2 },
    end: { kind: 'error', message: 'boom' },
    step: {
      kind: 'restart-unheld',
      afterMs: WINDOW_MS,
      run: 2,
      error:
        'no worker could hold run 2 for 75s (last failure: boom (workflow b/exp1)); it starts again, using no retry',
    },
    unheldSince: NOW - WINDOW_MS - 1,
  },
  {
    name: 'watchdog: a hand-back nobody picked up for a window: the fresh run starts on the shared queue',
    loop: {
      nextRun: 2,
      adoptWindowMs: 60_000,
      handedBackTo: 'staged@m2',
      unstarted: 3,
      watchdog: { run: 2, unheldSince: NOW - WINDOW_MS - 1 },
    },
    record: { ...running, attempts: 2 },
    end: neverPickedUp,
    step: {
      kind: 'restart-unheld',
      afterMs: WINDOW_MS,
      run: 2,
      error: 'no worker could hold run 2 for 75s (last failure: schedule to start); it starts again, using no retry',
    },
    then: { handedBackTo: undefined, unstarted: 0 },
    unheldSince: NOW - WINDOW_MS - 1,
  },
  {
    name: 'watchdog, before the patch: the fresh run goes to the queue the start was handed back to',
    loop: {
      nextRun: 2,
      adoptWindowMs: 60_000,
      handedBackTo: 'staged@m2',
      unstarted: 3,
      watchdog: { run: 2, unheldSince: NOW - WINDOW_MS - 1 },
    },
    record: { ...running, attempts: 2 },
    end: neverPickedUp,
    when: beforeForgetting,
    step: {
      kind: 'restart-unheld',
      afterMs: WINDOW_MS,
      run: 2,
      error: 'no worker could hold run 2 for 75s (last failure: schedule to start); it starts again, using no retry',
    },
    then: { handedBackTo: 'staged@m2', unstarted: 3 },
    unheldSince: NOW - WINDOW_MS - 1,
  },
  {
    name: 'watchdog: an attempt that heartbeated held the run: the clock starts again',
    loop: { location: home(1), watchdog: { run: 1, unheldSince: NOW - 10 * WINDOW_MS } },
    record: running,
    end: heartbeatLostAt(home(1)),
    step: { kind: 'adopt', location: home(1), afterMs: 1_000 },
    then: { watchdog: { run: 1, unheldSince: NOW } },
    unheldSince: NOW,
  },
  {
    name: 'watchdog: an attempt longer than a window held the run for a while',
    loop: { location: home(1), watchdog: { run: 1, unheldSince: NOW - 10 * WINDOW_MS } },
    record: running,
    end: { kind: 'error', message: 'boom' },
    when: { attemptAt: NOW - WINDOW_MS - 1 },
    step: { kind: 'adopt', location: home(1), afterMs: 1_000 },
    unheldSince: NOW,
  },
  {
    name: 'watchdog: a failure of another run starts its own clock',
    loop: { location: home(2), watchdog: { run: 1, unheldSince: NOW - 10 * WINDOW_MS } },
    record: { ...running, attempts: 2 },
    end: { kind: 'error', message: 'boom' },
    step: { kind: 'adopt', location: home(2), afterMs: 1_000 },
    then: { watchdog: { run: 2, unheldSince: NOW } },
    unheldSince: NOW,
  },
  {
    name: 'watchdog: a start that went nowhere while queued is no lost run; the clock is left alone',
    loop: { watchdog: { run: 1, unheldSince: NOW - 10 * WINDOW_MS } },
    record: queued,
    end: heartbeatLost,
    step: { kind: 'start-again', afterMs: 1_000 },
    then: { watchdog: { run: 1, unheldSince: NOW - 10 * WINDOW_MS } },
  },
  {
    name: 'no watchdog (experiments started before it): the same overdue adoption is adopted again',
    base: noWatchdog,
    loop: { location: home(1) },
    record: running,
    end: { kind: 'error', message: 'boom' },
    step: { kind: 'adopt', location: home(1), afterMs: 1_000 },
    then: { adoptWindowMs: 5 * 60_000 },
  },
];

test.each(CASES)('$name', ({ base = withWatchdog, loop, record = running, end, when, step, then, unheldSince }) => {
  const decision = nextStep({ ...base, ...loop }, record, end, { ...at, ...when });
  expect(decision.step).toEqual(step);
  expect(decision.unheldSince).toBe(unheldSince);
  if (then) expect(decision.loop).toMatchObject(then);
});

/** Carries each ending through nextStep in turn; the delays of the steps that start again. */
function startAgainDelays(ends: AttemptEnd[], when: Partial<typeof at> = {}): (number | undefined)[] {
  let loop = withWatchdog;
  const delays: (number | undefined)[] = [];
  for (const end of ends) {
    const decision = nextStep(loop, queued, end, { ...at, ...when });
    loop = decision.loop;
    if (decision.step.kind === 'start-again') delays.push(decision.step.afterMs);
  }
  return delays;
}

test('a start that goes nowhere after a run started and was lost waits 1 s, however many went nowhere before', () => {
  const nowhere = Array<AttemptEnd>(7).fill(heartbeatLost);
  const lostAfterStart: AttemptEnd = { kind: 'run-lost', details: { stopped: true, started: true }, message: 'lost' };
  const ends = [...nowhere, lostAfterStart, heartbeatLost];
  expect(startAgainDelays(ends)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 1_000]);
  expect(startAgainDelays(ends, beforeForgetting).at(-1)).toBe(60_000);
});

test('the loop starts at run 1 with no counts; the watchdog only where the patch is', () => {
  expect(withWatchdog).toEqual({
    nextRun: 1,
    failedRuns: 0,
    quotaReruns: 0,
    unstarted: 0,
    readopts: 0,
    adoptWindowMs: 300_000,
    watchdog: { unheldSince: 0 },
  });
  expect(noWatchdog.watchdog).toBeUndefined();
});

test('after an adopt step: shown running as that run, unless it already is', () => {
  expect(adoptingRecord(running, 1)).toBeUndefined();
  expect(adoptingRecord(running, 2)).toEqual({ ...running, attempts: 2 });
  expect(adoptingRecord(queued, 1)).toEqual({ ...queued, status: 'running', attempts: 1 });
});

test('after keeping away a window: queued as lost, and the fresh run is numbered after every run seen', () => {
  const loop = { ...withWatchdog, nextRun: 2 };
  const restart = restartAfterWindow(loop, { ...running, attempts: 3 }, { run: 2, error: 'unheld' });
  expect(restartAfterWindow(loop, { ...running, lostRuns: 1 }, { run: 2, error: 'unheld' }).report.lostRuns).toBe(2);
  expect(restart.report).toEqual({
    ...running,
    attempts: 3,
    status: 'queued',
    reason: 'worker-lost',
    error: 'unheld',
    lostRuns: 1,
  });
  expect(restart.loop.nextRun).toBe(4);
  expect(restartAfterWindow(loop, running, { run: 2, error: 'unheld' }).loop.nextRun).toBe(3);
});

test('after a retry or quota wait: queued again, no retry time shown', () => {
  expect(requeued({ ...running, status: 'retrying', retryAt: NOW })).toEqual({
    ...running,
    status: 'queued',
    retryAt: undefined,
  });
});

test('a waiting retry is called off once max retries falls below the failures so far; it ends as a give-up', () => {
  const retry = nextStep(withWatchdog, running, failed(), at);
  const lowered = nextStep(withWatchdog, running, failed(), { ...at, settings: { ...settings, maxRetries: 0 } });
  expect(retry.step.kind).toBe('retry');
  expect(lowered.step.kind).toBe('give-up');
  if (retry.step.kind !== 'retry') return;
  expect(retryAllowed(retry.loop.failedRuns, 1)).toBe(true); // lowered to the retries it takes: this one runs
  expect(retryAllowed(retry.loop.failedRuns, 0)).toBe(false);
  // The same record and end time as a give-up after the last allowed failure, from the record reported meanwhile.
  expect(retryCalledOff(retry.step.report, retry.step)).toEqual(lowered.step);
});
