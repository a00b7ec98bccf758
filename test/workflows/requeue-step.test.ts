/** A run that exits REQUEUE_EXIT_CODE ("checkpointed, start me again"): the next run starts, using no retry. */
import { firstLoopState, nextStep, type AttemptEnd } from '../../src/workflows/next-step.js';
import { newBatchState } from '../../src/model/batch-state.js';
import { packBatchState, unpackBatchState } from '../../src/model/packed-state.js';
import { REQUEUE_EXIT_CODE, type ExperimentRecord, type RunFailureDetails } from '../../src/model/types.js';

const NOW = 1_000_000;
const settings = { maxRetries: 0, retryDelayMs: 10_000, retryTimeouts: false, killGraceMs: 10_000, maxRequeues: 2 };
const at = { attemptAt: NOW - 1_000, now: NOW, settings, workflowId: 'b/exp1', forgetsFruitlessStarts: true };
const since = { ...at, requeues: true };
const running: ExperimentRecord = { status: 'running', attempts: 1, exitCode: null, startedAt: 500 };

const exited = (exitCode: number | null, fields: Partial<RunFailureDetails> = {}): AttemptEnd => ({
  kind: 'run-failed',
  runnable: true,
  details: { run: 1, exitCode, signal: null, reason: 'exit-code', logFile: 'exp1.log', endedAt: 900, ...fields },
  message: `exit ${exitCode}`,
});

test('the requeue exit code is 85: not 75 (a quota refusal), not a shell or signal code', () => {
  expect(REQUEUE_EXIT_CODE).toBe(85);
});

test('exit 85 starts the next run, queued, counting a requeue and no failed run', () => {
  const { step, loop } = nextStep(firstLoopState(true), running, exited(REQUEUE_EXIT_CODE), since);
  expect(step).toEqual({
    kind: 'requeue',
    report: {
      status: 'queued',
      attempts: 1,
      exitCode: 85,
      reason: 'exit-code',
      error: 'exit 85',
      startedAt: 500,
      calls: undefined,
      requeues: 1,
      retryAt: undefined,
    },
  });
  expect(loop).toMatchObject({ nextRun: 2, failedRuns: 0 });
});

test('the requeues are counted on the record: past --max-requeues, exit 85 is a failed attempt', () => {
  const second = nextStep(
    { ...firstLoopState(true), nextRun: 2 },
    { ...running, attempts: 2, requeues: 1 },
    exited(REQUEUE_EXIT_CODE, { run: 2 }),
    since,
  );
  expect(second.step).toMatchObject({ kind: 'requeue', report: { requeues: 2, attempts: 2 } });
  const third = nextStep(
    { ...firstLoopState(true), nextRun: 3 },
    { ...running, attempts: 3, requeues: 2 },
    exited(REQUEUE_EXIT_CODE, { run: 3 }),
    since,
  );
  expect(third.step).toMatchObject({ kind: 'give-up', record: { status: 'failed', exitCode: 85, requeues: 2 } });
});

test('a retry left after the requeues: exit 85 past them uses it', () => {
  const { step } = nextStep(firstLoopState(true), { ...running, requeues: 2 }, exited(REQUEUE_EXIT_CODE), {
    ...since,
    settings: { ...settings, maxRetries: 1 },
  });
  expect(step).toMatchObject({ kind: 'retry', report: { status: 'retrying', requeues: 2 } });
});

test('before the patch, or in a batch without --max-requeues, exit 85 is a plain failure', () => {
  expect(nextStep(firstLoopState(true), running, exited(REQUEUE_EXIT_CODE), at).step.kind).toBe('give-up');
  const older = { ...settings, maxRequeues: undefined };
  const step = nextStep(firstLoopState(true), running, exited(REQUEUE_EXIT_CODE), { ...since, settings: older }).step;
  expect(step.kind).toBe('give-up');
});

test('only an exit of its own: a run stopped by --timeout, or another code, is not requeued', () => {
  const timedOut = exited(REQUEUE_EXIT_CODE, { reason: 'timeout' });
  expect(nextStep(firstLoopState(true), running, timedOut, since).step.kind).toBe('give-up');
  expect(nextStep(firstLoopState(true), running, exited(3), since).step.kind).toBe('give-up');
  expect(nextStep(firstLoopState(true), running, exited(null, { signal: 'SIGUSR1' }), since).step.kind).toBe('give-up');
});

test('a quota refusal during the run goes first: it waits for the quota, counting no requeue', () => {
  const refused = exited(REQUEUE_EXIT_CODE, { quotaLimited: { retryAfterMs: 1_000 } });
  const { step } = nextStep(firstLoopState(true), running, refused, since);
  expect(step).toMatchObject({ kind: 'quota-rerun', report: { status: 'waiting-quota' } });
  expect(step.kind === 'quota-rerun' && step.report.requeues).toBeUndefined();
});

test("a batch's packed state keeps each experiment's requeues", () => {
  const spec = (name: string) => ({ id: name, name, file: `${name}.sh`, priority: 'medium' as const });
  const batchSettings = {
    ...settings,
    maxConcurrent: 1,
    timeoutMs: null,
    heartbeatTimeoutMs: 10_000,
    experimentsDir: '/e',
    workDir: '/w',
    taskQueue: 'q',
    historyLimit: 1_000,
    searchAttributes: false,
  };
  const state = newBatchState('b', [spec('exp1'), spec('exp2')], batchSettings, NOW);
  state.records[1] = { ...state.records[1], status: 'running', attempts: 3, requeues: 2 };
  const unpacked = unpackBatchState(packBatchState(state));
  expect(unpacked.records.map((record) => record.requeues)).toEqual([undefined, 2]);
});
