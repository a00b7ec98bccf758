/**
 * Whatever dies under a batch, it finishes correctly: measured from the experiment processes'
 * own journal (start/end times, pids) and from `ps`, never from staged's bookkeeping.
 */
import { batchSummary } from '../../src/batch-client/index.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { maxOverlap, readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import {
  GONE_WITHIN_MS,
  LOAD_MARGIN_MS,
  pidAlive,
  until,
  waitUntilDead,
  workerProcessesPerTest,
} from '../helpers/processes.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

const worker = (taskQueue: string, slots: number) => startWorkerProcess(server.env.address, taskQueue, slots);

/** A body that records its pid and a grandchild's, checks no other run of it is alive, then works. */
function guardedBody(dir: string, seconds: number): string {
  return [
    `live="${dir}/_live_$STAGED_EXPERIMENT"`,
    'if [ -f "$live" ]; then p=$(cat "$live");',
    '  if [ -d "/proc/$p" ] && ! grep -q zombie "/proc/$p/status" && grep -q "$STAGED_EXPERIMENT" ' +
      '"/proc/$p/cmdline"; then',
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

test(
  'a worker killed with SIGKILL three times: its runs are adopted by the next worker, each experiment runs ' +
    'once, never two at once, no retry used',
  async () => {
    const { dir, journal } = await tempExperimentsDir('sigkill');
    for (const name of ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d', 'exp5_e']) {
      await writeScript(dir, name, journal, { body: guardedBody(dir, 3) });
    }
    const { taskQueue, state } = await batchIn(dir, {
      maxConcurrent: 2,
      maxRetries: 0,
      heartbeatTimeoutMs: 2_000,
      killGraceMs: 1_000,
    });
    let current = await worker(taskQueue, 3);
    const handle = await startBatch(server.env, state);

    const aliveAfterKill: boolean[] = [];
    for (let kill = 0; kill < 3; kill++) {
      const startsBefore = (await readJournal(journal)).filter((e) => e.event === 'start').length;
      await until(
        async () => (await readJournal(journal)).filter((e) => e.event === 'start').length > startsBefore,
        60_000,
        'a run to start',
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      current.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const entries = await readJournal(journal);
      const unfinished = entries.filter(
        (e) => e.event === 'start' && !entries.some((x) => x.event === 'end' && x.pid === e.pid),
      );
      const alive = unfinished.map((run) => pidAlive(run.pid));
      // A run that ended on its own between the two reads outlived the kill too.
      const later = await readJournal(journal);
      const endedOnItsOwn = (pid: number) => later.some((x) => x.event === 'end' && x.pid === pid);
      aliveAfterKill.push(...unfinished.map((run, i) => alive[i] || endedOnItsOwn(run.pid)));
      current = await worker(taskQueue, 3);
    }
    const summary = await batchSummary(handle);

    expect(aliveAfterKill.length).toBeGreaterThanOrEqual(3);
    expect(aliveAfterKill.every(Boolean)).toBe(true);
    expect(summary.experiments.map((e) => [e.status, e.attempts])).toEqual(Array(5).fill(['completed', 1]));
    const entries = await readJournal(journal);
    expect(
      entries
        .filter((e) => e.event === 'start')
        .map((e) => e.name)
        .sort(),
    ).toEqual(['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d', 'exp5_e']);
    expect(entries.filter((e) => e.event === 'end')).toHaveLength(5);
    expect(await readFile(path.join(dir, '_overlaps'), 'utf8').catch(() => '')).toBe('');
    expect(maxOverlap(entries)).toBeLessThanOrEqual(2);
    expect(await waitUntilDead(await recordedPids(dir), GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  },
  300_000,
);

test(
  'an attempt past --timeout is killed and retried; a process that ignores SIGTERM is SIGKILLed after the grace ' +
    'period',
  async () => {
    const { dir, journal } = await tempExperimentsDir('timeout');
    await writeScript(dir, 'exp1_hangs_once', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ] || sleep 300' });
    await writeScript(dir, 'exp2_stubborn', journal, { body: `trap '' TERM; echo $$ > "${dir}/_stubborn"; sleep 300` });
    // Attempt 2 of exp1 must finish within the timeout: room for a loaded machine to start a shell.
    const { taskQueue, state } = await batchIn(dir, {
      maxRetries: 1,
      timeoutMs: 5_000,
      killGraceMs: 1_000,
      retryDelayMs: 100,
    });
    await worker(taskQueue, 2);

    const handle = await startBatch(server.env, state);
    const summary = await batchSummary(handle);

    const byName = Object.fromEntries(summary.experiments.map((e) => [e.name, e]));
    expect(byName.exp1_hangs_once).toMatchObject({ status: 'completed', attempts: 2 });
    expect(byName.exp1_hangs_once).toMatchObject({ reason: null });
    expect(byName.exp2_stubborn).toMatchObject({ status: 'failed', attempts: 2, exitCode: null, reason: 'timeout' });
    const stubbornRuns = (await readJournal(journal)).filter((e) => e.name === 'exp2_stubborn');
    expect(stubbornRuns.filter((e) => e.event === 'start')).toHaveLength(2);
    expect(stubbornRuns.filter((e) => e.event === 'end')).toHaveLength(0);
    const stubbornPid = Number((await readFile(path.join(dir, '_stubborn'), 'utf8')).trim());
    expect(await waitUntilDead([stubbornPid], GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
    const duration = Date.parse(byName.exp2_stubborn.closedAt!) - Date.parse(byName.exp2_stubborn.startedAt!);
    // each run: timeout, then the full grace before SIGKILL
    expect(duration).toBeGreaterThanOrEqual(2 * (5_000 + 1_000));
  },
  120_000,
);

test('a timed-out attempt is not retried by default (retryTimeouts off) and says why: reason timeout', async () => {
  const { dir, journal } = await tempExperimentsDir('timeout-once');
  await writeScript(dir, 'exp1_slow', journal, { body: 'sleep 300' });
  const { taskQueue, state } = await batchIn(dir, {
    maxRetries: 2,
    timeoutMs: 1_500,
    killGraceMs: 1_000,
    retryTimeouts: false,
  });
  await worker(taskQueue, 1);

  const summary = await batchSummary(await startBatch(server.env, state));

  expect(summary.experiments[0]).toMatchObject({ status: 'failed', attempts: 1, reason: 'timeout' });
  expect((await readJournal(journal)).filter((e) => e.event === 'start')).toHaveLength(1);
}, 60_000);

test('a script that exits 0 while a setsid child holds its stdout ends at its exit; the child is gone', async () => {
  const { dir, journal } = await tempExperimentsDir('stdout-holder');
  const body = `setsid sh -c 'echo $$ > "${dir}/_holder"; exec sleep 150' & echo done; sleep 0.5`;
  await writeScript(dir, 'exp1_holder', journal, { body });
  // A run that waited for the holder (150 s) would time out, and fail, long before it.
  const { taskQueue, state } = await batchIn(dir, { maxRetries: 0, timeoutMs: 30_000, killGraceMs: 1_000 });
  await worker(taskQueue, 1);

  const summary = await batchSummary(await startBatch(server.env, state));

  const [end] = (await readJournal(journal)).filter((e) => e.event === 'end');
  const closedAt = Date.parse(summary.experiments[0].closedAt!);
  expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 1 });
  expect(closedAt).toBeGreaterThanOrEqual(end.atMs);
  const holder = Number((await readFile(path.join(dir, '_holder'), 'utf8')).trim());
  expect(await waitUntilDead([holder], GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  console.log(
    `[figure] experiment closed ${closedAt - end.atMs} ms after its script exited, though a setsid child held its ` +
      `stdout`,
  );
}, 60_000);
