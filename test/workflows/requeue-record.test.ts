/** The run after a requeue shows no error: exit 85 asked for it, it was not a failure of the run now going. */
import { firstLoopState, nextStep, runningRecord, type AttemptEnd } from '../../src/workflows/next-step.js';
import { REQUEUE_EXIT_CODE, type ExperimentRecord } from '../../src/model/types.js';

const NOW = 1_000_000;
const settings = { maxRetries: 1, retryDelayMs: 10_000, retryTimeouts: false, killGraceMs: 10_000, maxRequeues: 2 };
const at = { attemptAt: NOW - 1_000, now: NOW, settings, workflowId: 'b/exp1', forgetsFruitlessStarts: true };
const since = { ...at, requeues: true };
const running: ExperimentRecord = { status: 'running', attempts: 1, exitCode: null, startedAt: 500 };

const exited = (exitCode: number): AttemptEnd => ({
  kind: 'run-failed',
  runnable: true,
  details: { run: 1, exitCode, signal: null, reason: 'exit-code', logFile: 'exp1.log', endedAt: 900 },
  message: `exit ${exitCode}`,
});

test('a requeued run, once started, is running with no exit code, reason or error', () => {
  const { step } = nextStep(firstLoopState(true), running, exited(REQUEUE_EXIT_CODE), since);
  if (step.kind !== 'requeue') throw new Error(`expected a requeue, got ${step.kind}`);
  expect(step.report).toMatchObject({ status: 'queued', exitCode: 85, error: 'exit 85' }); // why it queued again
  const next = runningRecord(step.report, 2, NOW);
  expect(next).toMatchObject({ status: 'running', attempts: 2, exitCode: null, startedAt: 500, requeues: 1 });
  expect(next.reason).toBeUndefined();
  expect(next.error).toBeUndefined();
});

test('a retried run keeps the failure it retries after, as before', () => {
  const { step } = nextStep(firstLoopState(true), running, exited(3), since);
  if (step.kind !== 'retry') throw new Error(`expected a retry, got ${step.kind}`);
  expect(runningRecord({ ...step.report, status: 'queued' }, 2, NOW)).toMatchObject({
    status: 'running',
    attempts: 2,
    exitCode: 3,
    error: 'exit 3',
    retryAt: undefined,
  });
});
