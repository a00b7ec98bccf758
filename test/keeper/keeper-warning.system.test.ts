/**
 * `--signal-before` in a real keeper: the warning reaches the run's main process once, `beforeMs` ahead of its
 * timeout, counted in time the run was not frozen, as the timeout is.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { FrozenRecord, RunStarted } from '../../src/keeper/run-files.js';
import { until } from '../helpers/processes.js';
import { startKeptRun, stopKeptRuns, type KeptRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';

const kept: KeptRun[] = [];
afterEach(async () => {
  await stopKeptRuns(kept.splice(0));
});

/** Writes `warned <epoch ms>` on each SIGUSR1 and goes on (or exits 85 with `exitOnWarning`). */
const listener = (file: string, exitOnWarning: boolean) =>
  `trap 'echo warned $(date +%s%3N) >> "${file}"${exitOnWarning ? '; exit 85' : ''}' USR1\n` +
  'while :; do sleep 0.1; done';

const warningsIn = async (file: string) =>
  (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((line) => Number(line.split(' ')[1]));

test('sent once, beforeMs ahead of the timeout; a run that goes on is still stopped by its timeout', async () => {
  const dir = await tempDir('keeper-warning');
  const file = path.join(dir, 'warnings.txt');
  const warning = { signal: 'SIGUSR1', beforeMs: 2_000 };
  const run = await startKeptRun(dir, 'warned.run-1', listener(file, false), { timeoutMs: 4_000, warning });
  kept.push(run);

  const exit = await run.exit(30_000);

  const { startedAt } = (await run.files.readJson<RunStarted>(run.files.state))!;
  const warnings = await warningsIn(file);
  expect(warnings).toHaveLength(1);
  expect(warnings[0] - startedAt).toBeGreaterThanOrEqual(2_000);
  expect(warnings[0]).toBeLessThan(exit.endedAt);
  expect(exit.end).toBe('timeout');
  expect(await readFile(run.files.keeperLog, 'utf8')).toContain('sent SIGUSR1: 2s before its --timeout');
  console.log(`warned ${warnings[0] - startedAt} ms after the start (due at 2000 ms); timed out at 4 s`);
});

test('time frozen does not count: the warning comes once thawed, and the run ends with its own exit 85', async () => {
  const dir = await tempDir('keeper-warning-frozen');
  const file = path.join(dir, 'warnings.txt');
  const warning = { signal: 'SIGUSR1', beforeMs: 4_000 };
  const run = await startKeptRun(dir, 'frozen.run-1', listener(file, true), { timeoutMs: 6_000, warning });
  kept.push(run);
  const frozenRecord = () => run.files.readJson<FrozenRecord>(run.files.frozen);

  await writeFile(run.files.freezeRequest, String(Date.now()));
  await until(async () => (await frozenRecord())?.since != null, 20_000, 'the keeper to freeze the run');
  await delay(3_000); // past the moment the warning would be due without the freeze
  expect(await warningsIn(file)).toEqual([]);
  await rm(run.files.freezeRequest, { force: true });

  const exit = await run.exit(30_000);

  const { startedAt } = (await run.files.readJson<RunStarted>(run.files.state))!;
  const frozenMs = (await frozenRecord())!.endedSpansMs;
  const warnings = await warningsIn(file);
  expect(warnings).toHaveLength(1);
  expect(warnings[0] - startedAt).toBeGreaterThanOrEqual(2_000 + frozenMs);
  expect(exit).toMatchObject({ end: 'exited', exitCode: 85 });
});
