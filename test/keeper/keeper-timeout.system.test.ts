/**
 * The keeper's clock: the run's timeout and its lease (what the watchdog did before the keeper).
 * Real keeper processes with short durations; test/keeper/keeper.test.ts has the plain timeout and lease expiry.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { RunStarted } from '../../src/keeper/run-files.js';
import { GONE_WITHIN_MS, LOAD_MARGIN_MS, pidAlive, until, waitUntilDead } from '../helpers/processes.js';
import { exitOf, launchRun, startKeptRun, stopKeptRuns, type KeptRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';
import { requestStop } from '../../src/machine/stop-run.js';

const kept: KeptRun[] = [];
afterEach(async () => {
  await stopKeptRuns(kept.splice(0));
});

async function started(run: KeptRun): Promise<RunStarted> {
  return (await run.files.readJson<RunStarted>(run.files.state))!;
}

test('a run whose lease is renewed is never abandoned; once renewals stop, it is, after the window', async () => {
  const leaseTimeoutMs = 2_000;
  const run = await startKeptRun(await tempDir('keeper-lease'), 'renewed.run-1', 'sleep 300', { leaseTimeoutMs });
  kept.push(run);
  const { pid } = await started(run);

  let lastRenewal = Date.now();
  for (const until = Date.now() + 3 * leaseTimeoutMs; Date.now() < until; await delay(200)) {
    lastRenewal = Date.now();
    await run.files.renewLease(lastRenewal);
  }
  expect(await run.files.readJson(run.files.exit)).toBeUndefined();
  expect(pidAlive(pid)).toBe(true);

  const exit = await run.exit(20_000);
  expect(exit.end).toBe('abandoned');
  expect(exit.endedAt - lastRenewal).toBeGreaterThanOrEqual(leaseTimeoutMs);
  expect(await waitUntilDead([pid], GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
});

test('a run that ends before its timeout is not stopped: it exited, with its own code', async () => {
  const dir = await tempDir('keeper-in-time');
  const run = await startKeptRun(dir, 'quick.run-1', 'sleep 0.5; exit 4', { timeoutMs: 10_000 });
  kept.push(run);

  expect(await run.exit()).toMatchObject({ end: 'exited', exitCode: 4, signal: null });
});

test.each(['cgroup or process-scan, as the machine allows', 'process-scan'])(
  'a timed-out run that ignores SIGTERM is SIGKILLed after its grace period, recorded as timed out (%s)',
  async (mode) => {
    const env: Record<string, string> = mode === 'process-scan' ? { STAGED_KILL_MODE: 'process-scan' } : {};
    const [timeoutMs, killGraceMs] = [1_500, 1_000];
    const run = await startKeptRun(
      await tempDir('keeper-timeout'),
      'stubborn.run-1',
      'trap "" TERM\nsleep 300 & wait',
      { timeoutMs, killGraceMs },
      env,
    );
    kept.push(run);
    const state = await started(run);

    const exit = await run.exit(20_000);

    if (mode === 'process-scan') expect(state.killMode).toBe('process-scan');
    expect(exit).toMatchObject({ end: 'timeout', exitCode: null, signal: 'SIGKILL' });
    expect(exit.endedAt - state.startedAt).toBeGreaterThanOrEqual(timeoutMs + killGraceMs);
    expect(await waitUntilDead([state.pid], GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  },
);

test('a stop asked the moment the keeper starts is not lost: the run stops and is recorded as cancelled', async () => {
  const runsDir = await tempDir('keeper-early-stop');
  const { files, keeperPid } = await launchRun(runsDir, 'early.run-1', ['-c', 'sleep 300'], {
    overrides: { killGraceMs: 500 },
  });
  // As soon as the keeper says the script started: before, it stopped listening for this moment too late.
  await until(async () => (await files.readJson<RunStarted>(files.state)) !== undefined, 20_000, 'the keeper to start');
  await requestStop(files, keeperPid, 'cancelled');
  const record = await exitOf(files);
  expect(record.end).toBe('cancelled');
  expect(record.signal ?? record.exitCode).not.toBe(0);
});
