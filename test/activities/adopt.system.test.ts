/**
 * Long runs outlive their worker and the server: a worker on the same machine adopts them (no new
 * process, no retry used), and a run nobody adopts is stopped within the window before it starts
 * again elsewhere. Measured from the experiment processes' own journal, logs and pids.
 */
import { readFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { RunExit } from '../../src/keeper/run-files.js';
import { batchSummary, queryBatchState, startBatch as startBatchWorkflow } from '../../src/batch-client/index.js';
import { attemptLogFile } from '../../src/paths.js';
import { batchIn, batchStateFor, startBatch, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript, type JournalEntry } from '../helpers/scripts.js';
import { cuttableProxy } from '../helpers/cuttable-proxy.js';
import { ownServer, withStartedServer } from '../helpers/own-server.js';
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
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type BatchHandle = Awaited<ReturnType<typeof startBatch>>;
/** The batch shows each of its experiments running: the server knows where each run lives. */
const allRunning = async (handle: BatchHandle) =>
  (await queryBatchState(handle)).records.every((record) => record.status === 'running');
/** The server has timed out the activity of each experiment (its worker gone): their runs wait for their machine. */
const allActivitiesTimedOut = async (handle: BatchHandle, names: string[]) => {
  const histories = await Promise.all(
    names.map((name) => handle.client.getHandle(`${handle.workflowId}/${name}`).fetchHistory()),
  );
  return histories.every((history) => history.events?.some((event) => event.activityTaskTimedOutEventAttributes));
};

const starts = (entries: JournalEntry[]) => entries.filter((e) => e.event === 'start');
const ends = (entries: JournalEntry[]) => entries.filter((e) => e.event === 'end');

/** A script that prints numbered lines and progress for `seconds`, then exits with `code`. */
function countingBody(seconds: number, code: number): string {
  return (
    `i=1; while [ $i -le ${seconds} ]; do echo "line $i"; echo "PROGRESS $i/${seconds}"; sleep 1; i=$((i+1)); ` +
    `done; (exit ${code})`
  );
}

/** A worker is lost 2 s after its last heartbeat, and a run it stops is dead 1 s later. */
const QUICK_LOSS = { heartbeatTimeoutMs: 2_000, killGraceMs: 1_000 };

async function machine(name: string) {
  const runsDir = await tempDir(`runs-${name}`);
  return (extra: string[] = []) => ['--machine-id', name, '--runs-dir', runsDir, ...extra];
}

test(
  'a 40-second run survives its worker being SIGKILLed and restarted: adopted, one process start, exit codes ' +
    'and whole output recorded',
  async () => {
    const { dir, journal } = await tempExperimentsDir('adopt-sigkill');
    await writeScript(dir, 'exp1_long', journal, { body: countingBody(40, 0) });
    await writeScript(dir, 'exp2_fails', journal, { body: countingBody(20, 3) });
    const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxConcurrent: 2, maxRetries: 0 });
    const args = (await machine('m1'))(['--adopt-window', '60s']);
    const first = await startWorkerProcess(server.env.address, taskQueue, 2, args);
    const handle = await startBatch(server.env, state);
    await until(async () => starts(await readJournal(journal)).length === 2, 60_000, 'both runs to start');
    await until(() => allRunning(handle), 60_000, 'both runs to be shown running');

    first.kill('SIGKILL');
    const names = ['exp1_long', 'exp2_fails'];
    await until(() => allActivitiesTimedOut(handle, names), 60_000, 'the server to give the runs up to their machine');
    const runningMeanwhile = starts(await readJournal(journal)).map((e) => pidAlive(e.pid));
    await startWorkerProcess(server.env.address, taskQueue, 2, args);
    const summary = await batchSummary(handle);

    expect(runningMeanwhile).toEqual([true, true]);
    const byName = Object.fromEntries(summary.experiments.map((e) => [e.name, e]));
    expect(byName.exp1_long).toMatchObject({ status: 'completed', attempts: 1, exitCode: 0, reason: null });
    expect(byName.exp2_fails).toMatchObject({ status: 'failed', attempts: 1, exitCode: 3, reason: 'exit-code' });
    const entries = await readJournal(journal);
    expect(
      starts(entries)
        .map((e) => e.name)
        .sort(),
    ).toEqual(['exp1_long', 'exp2_fails']);
    expect(
      ends(entries)
        .map((e) => e.pid)
        .sort(),
    ).toEqual(
      starts(entries)
        .map((e) => e.pid)
        .sort(),
    );
    const log = await readFile(attemptLogFile(dir, state.batchId, 'exp1_long', 1), 'utf8');
    expect(log.match(/^line \d+$/gm)).toEqual(Array.from({ length: 40 }, (_, i) => `line ${i + 1}`));
  },
  150_000,
);

test(
  'SIGTERM leaves runs for the next worker by default; with --on-shutdown stop it stops them and they run ' +
    'again, using no retry',
  async () => {
    const { dir, journal } = await tempExperimentsDir('adopt-sigterm');
    await writeScript(dir, 'exp1_a', journal, { body: countingBody(8, 0) });
    const { taskQueue, settings, state } = await batchIn(dir, { ...QUICK_LOSS, maxRetries: 0 });
    const args = await machine('m2');

    const leaving = await startWorkerProcess(server.env.address, taskQueue, 1, args());
    const left = await startBatch(server.env, state);
    await until(async () => starts(await readJournal(journal)).length === 1, 60_000, 'the run to start');
    leaving.kill('SIGTERM');
    expect(await leaving.exited()).toBe(0);
    const [run] = starts(await readJournal(journal));
    expect(pidAlive(run.pid)).toBe(true);
    const adopting = await startWorkerProcess(server.env.address, taskQueue, 1, args());
    expect((await batchSummary(left)).experiments[0]).toMatchObject({ status: 'completed', attempts: 1 });
    expect(starts(await readJournal(journal))).toHaveLength(1);
    adopting.kill('SIGTERM');
    await adopting.exited();

    const stopping = await startWorkerProcess(server.env.address, taskQueue, 1, args(['--on-shutdown', 'stop']));
    const stopped = await startBatch(server.env, await batchStateFor(settings));
    await until(async () => starts(await readJournal(journal)).length === 2, 60_000, 'the second batch to start');
    stopping.kill('SIGTERM');
    expect(await stopping.exited()).toBe(0);
    expect(
      await waitUntilDead([starts(await readJournal(journal))[1].pid], GONE_WITHIN_MS + LOAD_MARGIN_MS),
    ).toBeDefined();
    await startWorkerProcess(server.env.address, taskQueue, 1, args());
    expect((await batchSummary(stopped)).experiments[0]).toMatchObject({ status: 'completed', attempts: 2 });
    expect(starts(await readJournal(journal)).map((e) => e.attempt)).toEqual([1, 1, 2]);
  },
  150_000,
);

test(
  'a run no worker adopts is stopped within the adoption window, then runs once more on another machine, never ' +
    'two at once',
  async () => {
    const { dir, journal } = await tempExperimentsDir('adopt-none');
    await writeScript(dir, 'exp1_orphan', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ] || sleep 120' });
    const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxRetries: 0 });
    const windowMs = 4_000;
    const a = await startWorkerProcess(
      server.env.address,
      taskQueue,
      1,
      (await machine('a'))(['--adopt-window', '4s']),
    );
    const handle = await startBatch(server.env, state);
    await until(async () => starts(await readJournal(journal)).length === 1, 60_000, 'the run to start');
    const [orphan] = starts(await readJournal(journal));

    a.kill('SIGKILL');
    const killedAt = Date.now();
    // Watched from the kill on: machine b may take longer than the window to start on a loaded machine.
    const dying = waitUntilDead([orphan.pid], 30_000);
    await startWorkerProcess(server.env.address, taskQueue, 1, (await machine('b'))());
    const deathAfter = await dying;
    const diedAt = killedAt + deathAfter!;
    const summary = await batchSummary(handle);

    // the window counts from the worker's last contact, probed every second
    expect(deathAfter).toBeGreaterThan(windowMs - 2_500);
    expect(deathAfter).toBeLessThan(windowMs + LOAD_MARGIN_MS);
    expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 2, lostRuns: 1 });
    const runs = starts(await readJournal(journal));
    expect(runs.map((e) => e.attempt)).toEqual([1, 2]);
    expect(runs[1].atMs).toBeGreaterThan(diedAt - 100);
    console.log(
      `[figure] unadopted run stopped ${deathAfter} ms after its worker's SIGKILL (window ${windowMs} ms); ` +
        `started again on machine b ${runs[1].atMs - killedAt} ms after the kill`,
    );
  },
  120_000,
);

/** A process's parent, from /proc. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

test(
  'a run whose worker and keeper are both SIGKILLed, with no worker left on its machine, is stopped by its guard ' +
    'within the kill grace, its daemon too, then runs once more on another machine, never two at once',
  async () => {
    const { dir, journal } = await tempExperimentsDir('adopt-guard');
    const daemonFile = path.join(dir, 'daemon.pid');
    await writeScript(dir, 'exp1_unkept', journal, {
      body: `[ "$STAGED_ATTEMPT" -ge 2 ] || { setsid sleep 120 & echo $! > "${daemonFile}"; sleep 120; }`,
    });
    const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxRetries: 0 });
    const runsA = await tempDir('runs-a-guard');
    const a = await startWorkerProcess(server.env.address, taskQueue, 1, [
      ...['--machine-id', 'a-guard', '--runs-dir', runsA, '--adopt-window', '4s'],
    ]);
    const handle = await startBatch(server.env, state);
    const daemonPid = async () => Number((await readFile(daemonFile, 'utf8').catch(() => '')).trim());
    await until(async () => (await daemonPid()) > 0, 60_000, 'the run and its daemon to start');
    const [unkept] = starts(await readJournal(journal));
    const daemon = await daemonPid();
    const keeperPid = parentOf(unkept.pid);

    a.kill('SIGKILL');
    await a.exited(); // the worker cannot be what stops the run
    process.kill(keeperPid, 'SIGKILL');
    const killedAt = Date.now();
    const dying = waitUntilDead([unkept.pid, daemon], 60_000);
    await startWorkerProcess(server.env.address, taskQueue, 1, (await machine('b-guard'))());
    const deathAfter = await dying;
    const summary = await batchSummary(handle);
    const runs = starts(await readJournal(journal));
    console.log(
      `[figure] worker and keeper SIGKILLed: run 1 and its daemon gone ${deathAfter ?? 'never (60 s)'} ms after; ` +
        `run 2 started on machine b ${runs[1]?.atMs - killedAt} ms after the kill`,
    );

    expect(deathAfter).toBeLessThan(QUICK_LOSS.killGraceMs + GONE_WITHIN_MS + LOAD_MARGIN_MS);
    expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 2, lostRuns: 1 });
    expect(runs.map((e) => e.attempt)).toEqual([1, 2]);
    expect(runs[1].atMs).toBeGreaterThan(killedAt + deathAfter!);
    const [exitFile] = (await readdir(runsA, { recursive: true })).filter((file) => file.endsWith('exit.json'));
    const exit = JSON.parse(await readFile(path.join(runsA, exitFile), 'utf8')) as RunExit;
    expect(exit).toMatchObject({ end: 'abandoned', error: expect.stringContaining('its guard stopped the run') });
  },
  150_000,
);

test(
  'runs survive a server SIGKILL and restart longer than the heartbeat timeout, also one that ends during the ' +
    'outage: one start each, completed',
  async () => {
    const { dir, journal } = await tempExperimentsDir('adopt-server');
    await writeScript(dir, 'exp1_long', journal, { body: countingBody(20, 0) });
    await writeScript(dir, 'exp2_ends_meanwhile', journal, { body: countingBody(5, 0) });
    const devServer = await ownServer(dir);
    const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxConcurrent: 2, maxRetries: 0 });
    await withStartedServer(devServer, async (client) => {
      await startWorkerProcess(devServer.address, taskQueue, 2, (await machine('m3'))(['--adopt-window', '60s']));
      const handle = await startBatchWorkflow(client, state);
      await until(async () => starts(await readJournal(journal)).length === 2, 60_000, 'both runs to start');
      await until(() => allRunning(handle), 60_000, 'both runs to be shown running');

      await devServer.kill();
      const shortRunEnded = async () => ends(await readJournal(journal)).some((e) => e.name === 'exp2_ends_meanwhile');
      // An outage of three heartbeat timeouts at least, and one run ends during it.
      await Promise.all([
        sleep(3 * QUICK_LOSS.heartbeatTimeoutMs),
        until(shortRunEnded, 60_000, 'the short run to end during the outage'),
      ]);
      const restartedAt = Date.now();
      await devServer.start();
      const summary = await batchSummary(handle);

      expect(summary.experiments.map((e) => [e.status, e.attempts, e.exitCode])).toEqual([
        ['completed', 1, 0],
        ['completed', 1, 0],
      ]);
      const entries = await readJournal(journal);
      expect(starts(entries)).toHaveLength(2);
      expect(ends(entries)).toHaveLength(2);
      const shortEnd = ends(entries).find((e) => e.name === 'exp2_ends_meanwhile')!;
      expect(shortEnd.atMs).toBeLessThan(restartedAt); // it ended while the server was down
    });
  },
  150_000,
);

test(
  'cancelled while no worker is alive: nothing starts again when a worker returns, and the run left behind is ' +
    'stopped',
  async () => {
    const { dir, journal } = await tempExperimentsDir('adopt-cancel');
    await writeScript(dir, 'exp1_long', journal, { body: countingBody(120, 0) });
    await writeScript(dir, 'exp2_queued', journal);
    const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxConcurrent: 1 });
    const args = (await machine('m4'))(['--adopt-window', '120s']);
    const first = await startWorkerProcess(server.env.address, taskQueue, 1, args);
    const handle = await startBatch(server.env, state);
    await until(async () => starts(await readJournal(journal)).length === 1, 60_000, 'the run to start');
    const [left] = starts(await readJournal(journal));

    first.kill('SIGKILL');
    await handle.cancel();
    await until(() => allActivitiesTimedOut(handle, ['exp1_long']), 60_000, 'the server to give the run up');
    await startWorkerProcess(server.env.address, taskQueue, 1, args);
    const summary = await batchSummary(handle);
    const stoppedAfter = await waitUntilDead([left.pid], 20_000);

    expect(summary.experiments.map((e) => e.status)).toEqual(['cancelled', 'cancelled']);
    expect(stoppedAfter).toBeDefined();
    await sleep(2_000); // nothing may start late: a start would show within this
    expect(starts(await readJournal(journal)).map((e) => e.name)).toEqual(['exp1_long']);
  },
  120_000,
);

test(
  'fencing: a worker cut off from the server (alive, partitioned) stops its run within the window, before ' +
    'another machine starts it',
  async () => {
    const { dir, journal } = await tempExperimentsDir('adopt-partition');
    await writeScript(dir, 'exp1_cut_off', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ] || sleep 120' });
    const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxRetries: 0 });
    const link = await cuttableProxy(server.env.address);
    const windowMs = 5_000;
    const cutOff = await startWorkerProcess(
      link.address,
      taskQueue,
      1,
      (await machine('p1'))(['--adopt-window', '5s']),
    );
    const handle = await startBatch(server.env, state);
    await until(async () => starts(await readJournal(journal)).length === 1, 60_000, 'the run to start');
    const [first] = starts(await readJournal(journal));

    await link.cut();
    const cutAt = Date.now();
    await startWorkerProcess(server.env.address, taskQueue, 1, (await machine('p2'))());
    const stoppedAfter = await waitUntilDead([first.pid], 30_000);
    const summary = await batchSummary(handle);

    expect(stoppedAfter).toBeDefined();
    expect(stoppedAfter!).toBeLessThan(windowMs + LOAD_MARGIN_MS);
    expect(pidAlive(cutOff.pid)).toBe(true); // the worker lived on: only its link was cut
    expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 2, lostRuns: 1 });
    const runs = starts(await readJournal(journal));
    expect(runs.map((e) => e.attempt)).toEqual([1, 2]);
    expect(runs[1].atMs).toBeGreaterThan(cutAt + stoppedAfter! - 100);
    console.log(
      `[figure] partitioned worker's run stopped ${stoppedAfter} ms after the cut (window ${windowMs} ms); ` +
        `started on the other machine ${runs[1].atMs - cutAt} ms after the cut`,
    );
  },
  120_000,
);
