/**
 * A keeper killed together with its guard while a worker holds its run (systemd's SIGKILL of a whole service, the OOM
 * killer): the worker finds the keeper gone, stops what it left through the keeper binary's own stop, records the
 * run's end, and the experiment runs again with no retry used. Real server, worker, keeper and scripts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { batchSummary } from '../../src/batch-client/index.js';
import type { RunExit, RunSpec } from '../../src/keeper/run-files.js';
import type { LiveBatchView, LiveExperimentView } from '../../src/cli/display/batch-view.js';
import { stagedBinary as staged } from '../helpers/cli.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { killKeeperWithGuard, runDirsUnder } from '../helpers/runs.js';
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

/**
 * One experiment whose run 1 leaves a daemon in a session of its own and runs on (run 2 ends at once), held by a
 * worker: its processes, keeper, run directory and end record, once the daemon is there.
 */
async function runWithDaemon(name: string, settings: { heartbeatTimeoutMs?: number; killGraceMs?: number } = {}) {
  const { dir, journal } = await tempExperimentsDir(name);
  const daemonFile = path.join(dir, 'daemon');
  const body = `if [ "$STAGED_ATTEMPT" = 1 ]; then setsid sleep 300 & echo $! > "${daemonFile}"; sleep 120; fi`;
  await writeScript(dir, 'exp1_long', journal, { body });
  const { taskQueue, state } = await batchIn(dir, {
    heartbeatTimeoutMs: 5_000,
    killGraceMs: 1_000,
    maxRetries: 0,
    ...settings,
  });
  const runsRoot = await tempDir(`runs-${name}`);
  const worker = await startWorkerProcess(server.env.address, taskQueue, 1, ['--runs-dir', runsRoot]);
  const handle = await startBatch(server.env, state);
  await until(async () => Number((await readFile(daemonFile, 'utf8').catch(() => '')).trim()) > 0, 30_000, 'run 1');
  const [script] = await readJournal(journal);
  const daemon = Number((await readFile(daemonFile, 'utf8')).trim());
  const [files] = await runDirsUnder(runsRoot);
  const { keeperPid } = (await files.readJson<{ keeperPid: number }>(files.state))!;
  /** `settled`: whether the end record is the last one (the worker retells its guard's of a keeper it killed). */
  const endRecord = async (settled = (exit: RunExit) => Boolean(exit)) => {
    let exit: RunExit | undefined;
    await until(
      async () => (exit = await files.readJson<RunExit>(files.exit)) !== undefined && settled(exit),
      60_000,
      'its end',
    );
    return exit;
  };
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };
  return {
    journal,
    handle,
    keeperPid,
    processes: [script.pid, daemon],
    endRecord,
    files,
    worker,
    taskQueue,
    runsRoot,
    cli,
    batchId: state.batchId,
  };
}

test('a keeper and its guard killed under a live worker: it stops what they left, and the run goes again', async () => {
  const { journal, handle, keeperPid, processes, endRecord } = await runWithDaemon('keeper-gone');
  killKeeperWithGuard(keeperPid);

  // Before: the worker's own stop recorded only "its keeper died without recording an end" (no survivors, by pid)
  expect(await endRecord()).toMatchObject({
    end: 'abandoned',
    error: expect.stringMatching(/^its keeper died without recording an end; the worker that found it gone stopped/),
  });
  expect(await waitUntilDead(processes, GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  expect(pidAlive(keeperPid)).toBe(false);

  expect(await handle.result()).toBeDefined();
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts, e.lostRuns])).toEqual([
    ['completed', 2, 1],
  ]);
  expect((await readJournal(journal)).filter((e) => e.event === 'start').map((e) => e.attempt)).toEqual([1, 2]);
}, 120_000);

/** What the end record and the attempt log say of a cancelled run whose keeper did not answer and was killed. */
const KILLED_KEEPER_END =
  /^cancelled; its keeper did not answer the stop within \d+s, so its worker killed it, and its guard stopped/;

/** The end record once the worker is done with it: it retells the guard's `abandoned` one. */
const told = (exit: RunExit) => exit.end !== 'abandoned';

test('a keeper that does not answer a cancel is killed, and its guard stops the run', async () => {
  const { handle, keeperPid, processes, endRecord, files, cli, batchId } = await runWithDaemon('keeper-mute');
  process.kill(keeperPid, 'SIGSTOP'); // a keeper that cannot answer (stopped, or hung)

  const cancel = await staged(['cancel', batchId], cli);
  // Before: "running ones are stopped by their workers (at once, …)", while a hung keeper's stop takes 11 s
  expect(cancel.stdout).toMatch(/running ones are asked to stop by their workers .*with its kill grace before SIGKILL/);
  // Before: `abandoned`, "its keeper died without recording an end; its guard stopped the run", as after a crash
  expect(await endRecord(told)).toMatchObject({ end: 'cancelled', error: expect.stringMatching(KILLED_KEEPER_END) });
  const { logFile } = (await files.readJson<RunSpec>(files.spec))!;
  expect(await readFile(logFile, 'utf8')).toMatch(
    /\[staged\] cancelled; its keeper did not answer the stop within \d+s, so its worker kills it, and its guard stops/,
  );
  // Before: the worker stopped the run's processes beside its keeper, which stayed there, stopped, for good
  expect(await waitUntilDead([keeperPid, ...processes], GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  await until(
    async () => (await batchSummary(handle)).experiments[0].status === 'cancelled',
    30_000,
    'the experiment to be cancelled',
  );
}, 120_000);

test('an experiment cancelled, its keeper hung: status says its keeper, not its worker, has not answered', async () => {
  // A kill grace of 10 s: its keeper is killed 20 s after the cancel, 10 s past the point a worker is called silent
  const settings = { heartbeatTimeoutMs: 30_000, killGraceMs: 10_000 };
  const { handle, keeperPid, processes, endRecord, cli, batchId } = await runWithDaemon('keeper-hung', settings);
  process.kill(keeperPid, 'SIGSTOP');
  const runOf = async (): Promise<LiveExperimentView | undefined> => {
    const { exitCode, stdout } = await staged(['status', batchId, '--json'], cli);
    return exitCode === 0 ? (JSON.parse(stdout) as LiveBatchView).experiments[0] : undefined;
  };

  const cancel = await staged(['cancel', batchId, '--experiment', 'exp1_long'], cli);
  // Before: "stopped if running, never started if queued.", printed at once
  expect(cancel.stdout).toMatch(
    /exp1_long in batch .*: its run, if it has one, is asked to stop \(SIGTERM, then SIGKILL after its kill grace/,
  );
  let run: LiveExperimentView | undefined;
  // Before: no word of the stop; past 10 s, "no word from its worker", whose activity waited for the hung keeper
  await until(
    async () => ((run = await runOf())?.stopping?.seconds ?? 0) >= 11,
    60_000,
    'status to show the stop past the point a worker is called silent',
  );
  expect(run).toMatchObject({ status: 'running', stopping: { reason: 'cancelled', keeperKilled: false } });
  expect(run!.workerSilentSeconds).toBeUndefined();
  const { stdout } = await staged(['status', batchId], cli);
  expect(stdout).toMatch(
    /stopping \(cancelled\) for [\d.]+s: its keeper has not answered within its kill grace \(10\.0s\)/,
  );
  expect(stdout).not.toMatch(/no word from its worker/);

  expect(await endRecord(told)).toMatchObject({ end: 'cancelled', error: expect.stringMatching(KILLED_KEEPER_END) });
  expect(await waitUntilDead([keeperPid, ...processes], GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  await until(
    async () => (await batchSummary(handle)).experiments[0].status === 'cancelled',
    30_000,
    'the experiment to be cancelled',
  );
}, 180_000);

test('a stop asked by a worker that died, which its hung keeper never carried out: the adopter ends it', async () => {
  const { journal, handle, keeperPid, processes, files, worker, taskQueue, runsRoot } =
    await runWithDaemon('keeper-hung-stop');
  process.kill(keeperPid, 'SIGSTOP'); // hung
  await writeFile(files.stopReason, 'shutdown'); // as `--on-shutdown stop` asks, before its worker was SIGKILLed
  worker.kill('SIGKILL');

  await startWorkerProcess(server.env.address, taskQueue, 1, ['--runs-dir', runsRoot]);
  // Before: the next worker adopted the run and held it as running for as long as its keeper hung
  expect(await waitUntilDead([keeperPid, ...processes], 60_000)).toBeDefined();
  expect(await handle.result()).toBeDefined();
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts, e.lostRuns])).toEqual([
    ['completed', 2, 1],
  ]);
  expect((await readJournal(journal)).filter((e) => e.event === 'start').map((e) => e.attempt)).toEqual([1, 2]);
}, 120_000);
