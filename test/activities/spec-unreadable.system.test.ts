/**
 * A run whose keeper and guard died while no worker held it, and whose spec.json is gone (a user's rm, disk trouble):
 * its keeper kept its run id, which names its processes, in state.json, so the adopting worker stops them and the
 * experiment runs again (no retry used). Where state.json does not keep it (a keeper before 2026-12-08), nothing can
 * find them to stop them. They may still run, so the adopting worker holds the run on, never given up to a second
 * copy, and says what is wrong and what to do; once the user has stopped them and removed the run's directory, the
 * experiment runs again. Real server, worker, keeper and scripts. A run whose keeper is alive is held all the same,
 * with a line: its keeper has its spec.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { batchSummary } from '../../src/batch-client/index.js';
import { runIdOf, type RunStarted } from '../../src/keeper/run-files.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { killKeeperAndGuardOf, runDirsUnder } from '../helpers/runs.js';
import { pidAlive, until, workerProcessesPerTest } from '../helpers/processes.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

const ADOPT_WINDOW_MS = 8_000;

/**
 * A long run whose worker stopped (leaving it) and whose keeper and guard were then killed, its spec.json removed:
 * what a second worker started with `args` finds.
 */
async function deadKeeperWithoutSpec(name: string, machineId: string) {
  const { dir, journal } = await tempExperimentsDir(name);
  await writeScript(dir, 'exp1_long', journal, { body: 'if [ "$STAGED_ATTEMPT" = 1 ]; then exec sleep 300; fi' });
  const { taskQueue, state } = await batchIn(dir, { heartbeatTimeoutMs: 2_000, killGraceMs: 1_000, maxRetries: 0 });
  const runsRoot = await tempDir(`runs-${name}`);
  const args = ['--runs-dir', runsRoot, '--adopt-window', `${ADOPT_WINDOW_MS / 1000}s`, '--machine-id', machineId];
  const first = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  const handle = await startBatch(server.env, state);
  await until(async () => (await readJournal(journal)).length === 1, 30_000, 'the script to start');
  const [{ pid: script }] = await readJournal(journal);
  first.kill('SIGTERM');
  expect(await first.exited()).toBe(0);
  const [files] = await runDirsUnder(runsRoot);
  await killKeeperAndGuardOf(files);
  await rm(files.spec);
  return { journal, taskQueue, state, args, handle, script, files };
}

test('a dead keeper whose spec.json is gone: its run is stopped by its run id in state.json, runs again', async () => {
  const { journal, taskQueue, args, handle, script } = await deadKeeperWithoutSpec('spec-gone-state', 'm3');

  try {
    const second = await startWorkerProcess(server.env.address, taskQueue, 1, args);
    // Before: held on as running with "cannot stop …", until the user stopped its processes and removed its directory.
    expect(await handle.result()).toBeDefined();
    expect(pidAlive(script)).toBe(false);
    expect(second.output.filter((line) => line.includes('cannot stop'))).toEqual([]);
    expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts])).toEqual([['completed', 2]]);
    expect((await readJournal(journal)).filter((e) => e.event === 'start')).toHaveLength(2);
  } finally {
    if (pidAlive(script)) process.kill(script, 'SIGKILL');
  }
}, 120_000);

test('a dead keeper with no spec.json nor run id in state.json: held on, said, runs again once removed', async () => {
  const { journal, taskQueue, state, args, handle, script, files } = await deadKeeperWithoutSpec('spec-gone', 'm1');
  const { runId, killGraceMs, logFile, ...kept } = (await files.readJson<RunStarted>(files.state))!;
  expect([runId, killGraceMs, logFile]).toEqual([runIdOf(files.dir), 1_000, expect.any(String)]);
  await writeFile(files.state, JSON.stringify(kept)); // as a keeper of staged before 2026-12-08 wrote it

  try {
    await heldOnThenRunAgain();
  } finally {
    if (pidAlive(script)) process.kill(script, 'SIGKILL');
  }

  async function heldOnThenRunAgain() {
    const second = await startWorkerProcess(server.env.address, taskQueue, 1, [...args, '--on-shutdown', 'stop']);
    const run = `${state.batchId}/exp1_long (run 1)`;
    await until(() => second.output.some((line) => line.includes('cannot stop')), 60_000, 'the line');
    // Before: "could not stop what the dead keeper … left" failed each adoption, the worker said run 1's leftovers
    // were stopped, and run 2 started beside run 1 once the experiment took it for stuck (31 s after run 1 began).
    expect(second.output.filter((line) => line.includes('cannot stop'))).toEqual([
      `staged worker: cannot stop ${run}: its keeper died without recording an end, and its spec.json is unreadable ` +
        `(open ${files.spec}: no such file or directory): what it left cannot be found to stop it; it is held as ` +
        `running, not started again while it may live: stop its processes (STAGED_RUN_ID=${runIdOf(files.dir)} in ` +
        `their environment) and remove ${files.dir}, then it runs again (no retry used)`,
    ]);
    // The line's marker is the one the run's processes carry
    expect((await readFile(`/proc/${script}/environ`, 'utf8')).split('\0')).toContain(
      `STAGED_RUN_ID=${runIdOf(files.dir)}`,
    );
    // Held on past the point where the experiment would have started run 2: its activity still heartbeats
    const experiment = server.env.client.workflow.getHandle(`${state.batchId}/exp1_long`);
    const heldFrom = Date.now();
    const heartbeatAt = async () => (await experiment.describe()).raw.pendingActivities?.[0]?.lastHeartbeatTime;
    await until(
      async () => Number((await heartbeatAt())?.seconds ?? 0) * 1000 > heldFrom + 3 * ADOPT_WINDOW_MS,
      90_000,
      'three adoption windows of heartbeats',
    );
    expect(pidAlive(script)).toBe(true);
    expect(await readJournal(journal)).toHaveLength(1);
    expect(second.output.filter((line) => / lost: |adopting/.test(line))).toEqual([]);

    // A stop with its worker (--on-shutdown stop) cannot stop it either: it is left for the next worker, which holds it
    // on. Before: the stop was taken for done, and run 2 started beside run 1.
    second.kill('SIGTERM');
    expect(await second.exited()).toBe(0);
    expect(second.output.filter((line) => line.includes('cannot stop'))[1]).toMatch(
      /; it is left for the next worker here, which holds it as running, not started again while it may live: /,
    );
    const third = await startWorkerProcess(server.env.address, taskQueue, 1, args);
    await until(() => third.output.some((line) => line.includes('cannot stop')), 60_000, "the next worker's line");
    expect(pidAlive(script)).toBe(true);
    expect(await readJournal(journal)).toHaveLength(1);

    // The user stops what it left and removes its directory: it runs again
    process.kill(script, 'SIGKILL');
    await rm(files.dir, { recursive: true, force: true, maxRetries: 10 }); // as rm -rf, again while the worker writes
    expect(await handle.result()).toBeDefined();
    expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts])).toEqual([['completed', 2]]);
    expect((await readJournal(journal)).filter((e) => e.event === 'start')).toHaveLength(2);
  }
}, 240_000);

test('a live keeper whose spec.json is unreadable: its run is adopted all the same, and said', async () => {
  const { dir, journal } = await tempExperimentsDir('spec-corrupt');
  await writeScript(dir, 'exp1_long', journal, { body: 'sleep 20' });
  const { taskQueue, state } = await batchIn(dir, { heartbeatTimeoutMs: 2_000, killGraceMs: 1_000, maxRetries: 0 });
  const runsRoot = await tempDir('runs-spec-corrupt');
  const args = ['--runs-dir', runsRoot, '--adopt-window', `${ADOPT_WINDOW_MS / 1000}s`, '--machine-id', 'm2'];
  const first = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  const handle = await startBatch(server.env, state);
  await until(async () => (await readJournal(journal)).length === 1, 30_000, 'the script to start');
  first.kill('SIGTERM');
  expect(await first.exited()).toBe(0);
  const [files] = await runDirsUnder(runsRoot);
  await writeFile(files.spec, '{"runId": '); // cut short, as by a full disk

  const second = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  const run = `${state.batchId}/exp1_long (run 1)`;
  // Before: each adoption failed with a plain "SyntaxError: Unexpected end of JSON input", the quota agent said
  // "could not tend the run links" every second, and the keeper stopped the run at the end of its window (run 2).
  expect(await handle.result()).toBeDefined();
  expect(second.output.filter((line) => /spec\.json|could not/.test(line))).toEqual([
    `staged worker: ${run}: its spec.json is unreadable (${files.spec}: Unexpected end of JSON input); held all the ` +
      'same: its keeper read it as it started; this worker knows neither its quota secret (its quota calls, if any, ' +
      'are refused) nor its units',
  ]);
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts])).toEqual([['completed', 1]]);
  expect(await readJournal(journal)).toHaveLength(2); // one start, one end
}, 120_000);
