/**
 * A run frozen by a `freeze` request in its directory (`pause <batchId> <exp>`): real keeper processes, each kill mode.
 * Its processes stop where they are, its timeout clock stops with them, a thaw lets them go on, and a stop of a frozen
 * run thaws it first so that the script sees its SIGTERM.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { FrozenRecord, RunStarted } from '../../src/keeper/run-files.js';
import { requestStop } from '../../src/machine/stop-run.js';
import { until } from '../helpers/processes.js';
import { startKeptRun, stopKeptRuns, type KeptRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';

const kept: KeptRun[] = [];
afterEach(async () => {
  await stopKeptRuns(kept.splice(0));
});

const MODES = ['cgroup or process-scan, as the machine allows', 'process-scan'];
const envOf = (mode: string): Record<string, string> =>
  mode === 'process-scan' ? { STAGED_KILL_MODE: 'process-scan' } : {};

/** Appends a counter line every 100 ms; on SIGTERM, a last line `term`, and exit 0. */
const counter = (file: string) =>
  `trap 'echo term >> "${file}"; exit 0' TERM\ni=0\nwhile :; do i=$((i+1)); echo $i >> "${file}"; sleep 0.1; done`;

const linesOf = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);

async function frozenRecord(run: KeptRun): Promise<FrozenRecord | undefined> {
  return run.files.readJson<FrozenRecord>(run.files.frozen);
}

async function freeze(run: KeptRun): Promise<number> {
  const askedAt = Date.now();
  await writeFile(run.files.freezeRequest, String(askedAt));
  await until(async () => (await frozenRecord(run))?.since != null, 20_000, 'the keeper to freeze the run');
  return Date.now() - askedAt;
}

async function thaw(run: KeptRun): Promise<void> {
  await rm(run.files.freezeRequest, { force: true });
  await until(async () => (await frozenRecord(run))?.since === null, 20_000, 'the keeper to thaw the run');
}

test.each(MODES)(
  'a frozen run stops growing its file, is not timed out while frozen, goes on once thawed (%s)',
  async (mode) => {
    const dir = await tempDir('keeper-freeze');
    const file = path.join(dir, 'counter.txt');
    const timeoutMs = 3_000;
    const run = await startKeptRun(dir, 'frozen.run-1', counter(file), { timeoutMs }, envOf(mode));
    kept.push(run);
    await until(async () => (await linesOf(file)).length >= 3, 20_000, 'the counter to count');

    const tookMs = await freeze(run);
    const atFreeze = (await linesOf(file)).length;
    // Frozen for longer than the whole timeout: nothing is written, and the run is not stopped.
    await delay(timeoutMs + 1_000);
    expect((await linesOf(file)).length).toBe(atFreeze);
    expect(await run.files.readJson(run.files.exit)).toBeUndefined();
    const frozen = (await frozenRecord(run))!;
    await thaw(run);
    await until(async () => (await linesOf(file)).length > atFreeze, 20_000, 'the counter to count again');

    const exit = await run.exit(30_000);
    const { startedAt, killMode } = (await run.files.readJson<RunStarted>(run.files.state))!;
    if (mode === 'process-scan') expect(killMode).toBe('process-scan');
    const frozenMs = (await frozenRecord(run))!.endedSpansMs;
    expect(exit.end).toBe('timeout');
    expect(frozenMs).toBeGreaterThanOrEqual(timeoutMs + 1_000);
    // Its timeout counted only the time it ran: it ended after timeout + frozen time, and not before.
    expect(exit.endedAt - startedAt).toBeGreaterThanOrEqual(timeoutMs + frozenMs);
    expect((await linesOf(file)).at(-1)).toBe('term');
    console.log(`[${killMode}] frozen ${tookMs} ms after the request (since ${frozen.since}), for ${frozenMs} ms`);
  },
);

test.each(MODES)('a frozen run that is stopped is thawed first: it sees its SIGTERM (%s)', async (mode) => {
  const dir = await tempDir('keeper-freeze-stop');
  const file = path.join(dir, 'counter.txt');
  const run = await startKeptRun(dir, 'frozen.run-1', counter(file), { killGraceMs: 10_000 }, envOf(mode));
  kept.push(run);
  await until(async () => (await linesOf(file)).length >= 2, 20_000, 'the counter to count');
  await freeze(run);

  await requestStop(run.files, run.keeperPid, 'cancelled');
  const exit = await run.exit(30_000);

  // Its trap ran (exit 0 after a `term` line) well within the grace: it was not SIGKILLed frozen.
  expect(exit).toMatchObject({ end: 'cancelled', exitCode: 0, signal: null });
  expect((await linesOf(file)).at(-1)).toBe('term');
  expect((await frozenRecord(run))!.since).toBeNull();
});
