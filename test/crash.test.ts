/**
 * Whatever dies under a batch, it finishes correctly: measured from the experiment processes'
 * own journal (start/end times, pids) and from `ps`, never from staged's bookkeeping.
 */
import { batchSummary } from '../src/batch-handle.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { batchStateFor, useTestServer, startBatch, testSettings, uniqueQueue } from './helpers/temporal.js';
import { maxOverlap, readJournal, tempDir, writeScript, type JournalEntry } from './helpers/scripts.js';
import { until, waitUntilDead, workerProcessesPerTest } from './helpers/processes.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();


const worker = (taskQueue: string, slots: number) => startWorkerProcess(server.env.address, taskQueue, slots);

/** A body that records its pid and a grandchild's, checks no other run of it is alive, then works. */
function guardedBody(dir: string, seconds: number): string {
  return [
    `live="${dir}/_live_$STAGED_EXPERIMENT"`,
    'if [ -f "$live" ]; then p=$(cat "$live");',
    '  if [ -d "/proc/$p" ] && ! grep -q zombie "/proc/$p/status" && grep -q "$STAGED_EXPERIMENT" "/proc/$p/cmdline"; then',
    `    echo "$STAGED_EXPERIMENT $p" >> "${dir}/_overlaps"; fi; fi`,
    'echo $$ > "$live"',
    `sleep 300 & echo "$$ $!" >> "${dir}/_pids"`,
    `sleep ${seconds}`,
  ].join('\n');
}

async function recordedPids(dir: string): Promise<number[]> {
  const text = await readFile(path.join(dir, '_pids'), 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}

/** Runs whose process never wrote its end line were killed; they end when their death was confirmed. */
function withKilledRunsEnded(entries: JournalEntry[], deaths: number[]): JournalEntry[] {
  const ended = new Set(entries.filter((e) => e.event === 'end').map((e) => e.pid));
  const closing = entries
    .filter((e) => e.event === 'start' && !ended.has(e.pid))
    .map((e) => ({ ...e, event: 'end' as const, atMs: deaths.find((at) => at >= e.atMs) ?? Infinity }));
  return [...entries, ...closing];
}

test('a worker killed with SIGKILL three times: its processes die within 5 s, the batch completes, no run overlaps another, no retry is used', async () => {
  const dir = await tempDir('sigkill');
  const journal = path.join(dir, '_journal');
  for (const name of ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d', 'exp5_e']) {
    await writeScript(dir, name, journal, { body: guardedBody(dir, 3) });
  }
  const taskQueue = uniqueQueue();
  const settings = testSettings({
    experimentsDir: dir,
    workDir: dir,
    taskQueue,
    maxConcurrent: 2,
    maxRetries: 0,
    heartbeatTimeoutMs: 2_000,
    killGraceMs: 1_000,
  });
  const state = await batchStateFor(settings);
  let current = await worker(taskQueue, 3);
  const handle = await startBatch(server.env, state);

  const deaths: number[] = [];
  const kills: number[] = [];
  const timesToDie: number[] = [];
  for (let kill = 0; kill < 3; kill++) {
    const startsBefore = (await readJournal(journal)).filter((e) => e.event === 'start').length;
    await until(async () => (await readJournal(journal)).filter((e) => e.event === 'start').length > startsBefore, 60_000, 'a run to start');
    await new Promise((resolve) => setTimeout(resolve, 500));
    current.kill('SIGKILL');
    const killedAt = Date.now();
    kills.push(killedAt);
    const timeToDie = await waitUntilDead(await recordedPids(dir), 5_000);
    expect(timeToDie).toBeDefined();
    timesToDie.push(timeToDie!);
    deaths.push(killedAt + timeToDie!);
    current = await worker(taskQueue, 3);
  }
  const summary = await batchSummary(handle);

  expect(summary.experiments.map((e) => e.status)).toEqual(Array(5).fill('completed'));
  const entries = await readJournal(journal);
  const killedRuns = entries.filter((e) => e.event === 'start').length - entries.filter((e) => e.event === 'end').length;
  expect(killedRuns).toBeGreaterThanOrEqual(3);
  expect(await readFile(path.join(dir, '_overlaps'), 'utf8').catch(() => '')).toBe('');
  expect(maxOverlap(withKilledRunsEnded(entries, deaths))).toBeLessThanOrEqual(2);
  expect(await waitUntilDead(await recordedPids(dir), 5_000)).toBeDefined();
  const rerunDelays = kills.map((killedAt, i) => {
    const killed = entries.filter((e) => e.event === 'start' && e.atMs > (kills[i - 1] ?? 0) && e.atMs < killedAt && !entries.some((x) => x.event === 'end' && x.pid === e.pid));
    const reruns = killed.map((run) => entries.find((e) => e.event === 'start' && e.name === run.name && e.atMs > killedAt)!.atMs);
    return Math.max(...reruns) - killedAt;
  });
  console.log(
    `[figure] SIGKILLed worker: its processes were gone after ${timesToDie.join(', ')} ms; ` +
      `killed runs started again ${rerunDelays.join(', ')} ms after the kill (worker restart + 2 s heartbeat timeout)`,
  );
}, 300_000);

test('a worker stopped with SIGTERM kills its process trees; the experiments run again later without using a retry', async () => {
  const dir = await tempDir('sigterm');
  const journal = path.join(dir, '_journal');
  for (const name of ['exp1_a', 'exp2_b']) await writeScript(dir, name, journal, { body: guardedBody(dir, 2) });
  const taskQueue = uniqueQueue();
  const state = await batchStateFor(
    testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxConcurrent: 2, maxRetries: 0, killGraceMs: 1_000 }),
  );
  const first = await worker(taskQueue, 2);
  const handle = await startBatch(server.env, state);
  await until(async () => (await recordedPids(dir)).length === 4, 60_000, 'both runs to start');

  first.kill('SIGTERM');
  expect(await first.exited()).toBe(0);
  expect(await waitUntilDead(await recordedPids(dir), 1_000)).toBeDefined();
  await worker(taskQueue, 2);
  const summary = await batchSummary(handle);

  expect(summary.experiments.map((e) => [e.status, e.attempts])).toEqual([
    ['completed', 2],
    ['completed', 2],
  ]);
  const runs = await readJournal(journal);
  expect(runs.filter((e) => e.event === 'end')).toHaveLength(2);
  expect(runs.filter((e) => e.event === 'start').map((e) => e.attempt).sort()).toEqual([1, 1, 2, 2]);
}, 120_000);

test('an attempt past --timeout is killed and retried; a process that ignores SIGTERM is SIGKILLed after the grace period', async () => {
  const dir = await tempDir('timeout');
  const journal = path.join(dir, '_journal');
  await writeScript(dir, 'exp1_hangs_once', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ] || sleep 300' });
  await writeScript(dir, 'exp2_stubborn', journal, { body: `trap '' TERM; echo $$ > "${dir}/_stubborn"; sleep 300` });
  const taskQueue = uniqueQueue();
  const state = await batchStateFor(
    testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxRetries: 1, timeoutMs: 1_500, killGraceMs: 1_000, retryDelayMs: 100 }),
  );
  await worker(taskQueue, 2);

  const handle = await startBatch(server.env, state);
  const summary = await batchSummary(handle);

  const byName = Object.fromEntries(summary.experiments.map((e) => [e.name, e]));
  expect(byName.exp1_hangs_once).toMatchObject({ status: 'completed', attempts: 2 });
  expect(byName.exp2_stubborn).toMatchObject({ status: 'failed', attempts: 2, exitCode: null });
  const stubbornRuns = (await readJournal(journal)).filter((e) => e.name === 'exp2_stubborn');
  expect(stubbornRuns.filter((e) => e.event === 'start')).toHaveLength(2);
  expect(stubbornRuns.filter((e) => e.event === 'end')).toHaveLength(0);
  const stubbornPid = Number((await readFile(path.join(dir, '_stubborn'), 'utf8')).trim());
  expect(await waitUntilDead([stubbornPid], 1_000)).toBeDefined();
  const duration = Date.parse(byName.exp2_stubborn.closedAt!) - Date.parse(byName.exp2_stubborn.startedAt!);
  expect(duration).toBeGreaterThanOrEqual(2 * (1_500 + 1_000)); // each run: timeout, then the full grace before SIGKILL
}, 120_000);
