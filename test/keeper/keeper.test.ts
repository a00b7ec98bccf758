/**
 * A run owns everything it starts: daemons in new sessions and double-forked ones are stopped with
 * it, whichever way it ends; and it ends when its main process exits, whatever holds its output.
 * Real processes, measured from the pids they record.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunSpec, RunStarted } from '../../src/keeper/run-files.js';
import { killModeOfMachine } from '../../src/keeper/kill-mode.js';
import { tempDir } from '../helpers/scripts.js';
import { GONE_WITHIN_MS, LOAD_MARGIN_MS, until, waitUntilDead } from '../helpers/processes.js';
import { startKeptRun } from '../helpers/runs.js';
import { requestStop } from '../../src/machine/stop-run.js';

/** Starts a setsid daemon and a double-forked one (both holding stdout), then runs `main`. */
function daemonScript(dir: string, main: string): string {
  return [
    `setsid sh -c 'echo $$ > "${dir}/_setsid"; exec sleep 300' &`,
    `sh -c '(sh -c "echo \\$\\$ > \\"${dir}/_double\\"; exec sleep 300" &)'`,
    `while [ ! -s "${dir}/_setsid" ] || [ ! -s "${dir}/_double" ]; do sleep 0.05; done`,
    'echo daemons started',
    main,
  ].join('\n');
}

/** A run stopped by its clock (timeout, lease) lives this long: its daemons have started by then, even under load. */
const DAEMONS_START_WITHIN_MS = 5_000;

async function daemonPids(dir: string): Promise<number[]> {
  return Promise.all(
    ['_setsid', '_double'].map(async (file) => Number((await readFile(path.join(dir, file), 'utf8')).trim())),
  );
}

async function startRun(
  name: string,
  main: string,
  overrides: Partial<RunSpec> = {},
  env: Record<string, string> = {},
) {
  const dir = await tempDir(`keeper-${name}`);
  const run = await startKeptRun(path.join(dir, 'runs'), `run-${name}`, daemonScript(dir, main), overrides, env);
  await until(async () => (await run.log()).includes('daemons started'), 20_000, 'the daemons to start');
  return { ...run, daemons: await daemonPids(dir) };
}

test('the worker says the way its keepers stop runs on this machine', async () => {
  const run = await startRun('kill-mode', 'exit 0');
  const { killMode } = (await run.files.readJson<RunStarted>(run.files.state))!;
  expect(await killModeOfMachine()).toBe(killMode);
  await run.exit(GONE_WITHIN_MS + LOAD_MARGIN_MS);
});

test('a run ends when its main process exits, though daemons hold its stdout, and they are gone', async () => {
  const run = await startRun('exits', 'exit 3');
  const exit = await run.exit(GONE_WITHIN_MS + LOAD_MARGIN_MS);
  expect(exit).toMatchObject({ end: 'exited', exitCode: 3 });
  expect(await waitUntilDead(run.daemons, GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  expect(exit.tail).toContain('daemons started');
});

test.concurrent.each([
  ['a timed-out run is stopped as timed out, its daemons with it', 'timeout', { timeoutMs: DAEMONS_START_WITHIN_MS }],
  [
    'an abandoned run (no lease renewal within its window) is stopped, its daemons with it',
    'abandoned',
    { leaseTimeoutMs: DAEMONS_START_WITHIN_MS },
  ],
] as const)('%s', async (_name, end, overrides) => {
  const run = await startRun(end, 'sleep 300', overrides);
  const exit = await run.exit(DAEMONS_START_WITHIN_MS + GONE_WITHIN_MS + LOAD_MARGIN_MS);
  expect(exit.end).toBe(end);
  expect(await waitUntilDead(run.daemons, GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
});

test('a cancelled run (its reason, then SIGTERM to its keeper) is stopped, its daemons with it', async () => {
  const run = await startRun('cancel', 'sleep 300');
  const cancelledAt = Date.now();
  await requestStop(run.files, run.keeperPid, 'cancelled');
  expect(await waitUntilDead(run.daemons, GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  expect((await run.exit(GONE_WITHIN_MS + LOAD_MARGIN_MS)).end).toBe('cancelled');
  expect(Date.now() - cancelledAt).toBeLessThan(GONE_WITHIN_MS + LOAD_MARGIN_MS);
});

test('the process-scan fallback stops daemons too, and records which mode it used', async () => {
  const run = await startRun('scan', 'sleep 0.5; exit 0', {}, { STAGED_KILL_MODE: 'process-scan' });
  const state = await run.files.readJson<{ killMode: string }>(run.files.state);
  const exit = await run.exit(GONE_WITHIN_MS + LOAD_MARGIN_MS);
  expect(state?.killMode).toBe('process-scan');
  expect(exit).toMatchObject({ end: 'exited', exitCode: 0 });
  expect(await waitUntilDead(run.daemons, GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
});
