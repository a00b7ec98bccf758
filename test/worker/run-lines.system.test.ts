/**
 * A worker says what it does with the runs it does not start: a graceful stop names the runs it leaves for adoption
 * (or stops), a worker starting beside runs alive on its machine names those left for adoption and those another
 * live worker holds, and a worker says the runs it adopts once it holds them, and the runs it finds lost instead.
 * Real server, real worker processes and scripts; asserted on the lines the workers print.
 */
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { batchSummary } from '../../src/batch-client/index.js';
import type { BatchState } from '../../src/model/types.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript, type JournalEntry } from '../helpers/scripts.js';
import { killKeeperAndGuardOf, runDirsUnder } from '../helpers/runs.js';
import { CLI, until, workerProcessesPerTest, type WorkerProcess } from '../helpers/processes.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

const starts = (entries: JournalEntry[]) => entries.filter((e) => e.event === 'start');
const QUICK_LOSS = { heartbeatTimeoutMs: 2_000, killGraceMs: 1_000, maxRetries: 0 };

/** The pid of each run's holder (its holder record), one per run directory under `runsRoot`. */
async function holdersIn(runsRoot: string, count = 3): Promise<(number | undefined)[]> {
  const runs = await runDirsUnder(runsRoot);
  if (runs.length !== count) return [undefined];
  return Promise.all(
    runs.map(async (files) => (await files.readJson<{ worker?: { pid: number } }>(files.holder))?.worker?.pid),
  );
}

/** One script of `seconds` held running by a first worker of machine `machineId`, on a runs directory of its own. */
async function oneRunHeld(name: string, machineId: string, seconds: number) {
  const { dir, journal } = await tempExperimentsDir(name);
  await writeScript(dir, 'exp1_long', journal, { body: `sleep ${seconds}` });
  const { taskQueue, state } = await batchIn(dir, QUICK_LOSS);
  const runsRoot = await tempDir(`runs-${name}`);
  const args = ['--runs-dir', runsRoot, '--adopt-window', '90s', '--machine-id', machineId];
  const first = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  const handle = await startBatch(server.env, state);
  await until(async () => starts(await readJournal(journal)).length === 1, 30_000, 'the script to start');
  return { journal, taskQueue, runsRoot, args, first, handle, run: `${state.batchId}/exp1_long (run 1)` };
}

/** The runs a worker said it adopts, from its `adopting N runs left by …: a, b` lines (at most 5 named each). */
function adoptedIn(worker: WorkerProcess): string[] {
  return worker.output
    .filter((line) => line.startsWith('staged worker: adopting '))
    .flatMap((line) => line.slice(line.indexOf(': ', 'staged worker: '.length) + 2).split(', '));
}

/** The worker's line that matches, once it has printed one (within `ms`). */
async function lineOf(worker: WorkerProcess, pattern: RegExp, ms = 30_000): Promise<string> {
  await until(() => worker.output.some((line) => pattern.test(line)), ms, `a worker line matching ${pattern}`);
  return worker.output.find((line) => pattern.test(line))!;
}

test('SIGTERM (leave) names the 3 runs it leaves, the next worker the 3 it adopts, a third their holder', async () => {
  const { dir, journal } = await tempExperimentsDir('run-lines-leave');
  for (const name of ['exp1_a', 'exp2_b', 'exp3_c']) await writeScript(dir, name, journal, { body: 'sleep 40' });
  const { taskQueue, state } = await batchIn(dir, QUICK_LOSS);
  const runsRoot = await tempDir('runs-lines-leave');
  const args = ['--runs-dir', runsRoot, '--adopt-window', '90s', '--machine-id', 'm1'];
  const first = await startWorkerProcess(server.env.address, taskQueue, 3, args);
  const handle = await startBatch(server.env, state);
  await until(async () => starts(await readJournal(journal)).length === 3, 30_000, 'the three scripts to start');
  const runs = ['exp1_a', 'exp2_b', 'exp3_c'].map((name) => `${state.batchId}/${name} (run 1)`).join(', ');

  first.kill('SIGTERM');
  expect(await first.exited()).toBe(0);
  expect(first.output).toContain(
    `staged worker: left 3 runs running for the next worker on this machine to adopt: ${runs}`,
  );

  const second = await startWorkerProcess(server.env.address, taskQueue, 3, args);
  expect(await lineOf(second, /wait to be adopted/)).toBe(
    `staged worker: 3 runs left by an earlier worker on this machine wait to be adopted: ${runs}`,
  );
  // Once the second holds them (each run's holder record names it), it says so, and a third worker names them as its.
  await until(async () => (await holdersIn(runsRoot)).every((pid) => pid === second.pid), 30_000, 'the adoptions');
  await until(() => adoptedIn(second).length === 3, 10_000, 'the adopting lines');
  expect(adoptedIn(second).sort()).toEqual(runs.split(', '));
  const third = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  expect(await lineOf(third, /held by another live worker/)).toBe(
    `staged worker: 3 runs alive here are held by another live worker of this machine (pid ${second.pid}), ` +
      `not this one: ${runs}`,
  );
  expect(third.output.some((line) => /adopting/.test(line))).toBe(false);

  const summary = await batchSummary(handle);
  expect(summary.experiments.map((e) => [e.status, e.attempts])).toEqual([
    ['completed', 1],
    ['completed', 1],
    ['completed', 1],
  ]);
  expect(starts(await readJournal(journal))).toHaveLength(3);
}, 120_000);

test('a worker started before a run was left says so when it adopts it, as it does at its start', async () => {
  const { journal, taskQueue, runsRoot, args, first, handle, run } = await oneRunHeld('run-lines-later', 'm4', 20);
  // Started beside the run its holder still holds: it names it as the other's, and then adopts it once it is left.
  const later = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  expect(await lineOf(later, /held by another live worker/)).toContain(`(pid ${first.pid}), not this one: ${run}`);

  first.kill('SIGTERM');
  expect(await first.exited()).toBe(0);
  // Before: nothing (the outcome was right, the worker silent)
  expect(await lineOf(later, /adopting/)).toBe(
    `staged worker: adopting 1 run left by an earlier worker on this machine: ${run}`,
  );
  expect(await holdersIn(runsRoot, 1)).toEqual([later.pid]);
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts])).toEqual([['completed', 1]]);
  expect(starts(await readJournal(journal))).toHaveLength(1);
  expect(later.output.filter((line) => /adopting/.test(line))).toHaveLength(1);
}, 90_000);

test('two workers starting beside one left run: only the one that holds it says it adopts it', async () => {
  const { journal, taskQueue, runsRoot, args, first, handle, run } = await oneRunHeld('run-lines-two', 'm5', 15);
  first.kill('SIGTERM');
  expect(await first.exited()).toBe(0);

  const two = await Promise.all([1, 2].map(() => startWorkerProcess(server.env.address, taskQueue, 1, args)));
  let holder: number | undefined;
  const held = async () => {
    [holder] = await holdersIn(runsRoot, 1);
    return two.some((worker) => worker.pid === holder);
  };
  await until(held, 30_000, 'one of them to hold the run');
  const [adopter, other] = two[0].pid === holder ? two : [two[1], two[0]];
  const left = `staged worker: 1 run left by an earlier worker on this machine waits to be adopted: ${run}`;
  expect(await lineOf(adopter, /waits to be adopted/)).toBe(left);
  // The other found it left too, or (when it looked a moment later) held by the adopter already
  const heldByAdopter =
    `staged worker: 1 run alive here is held by another live worker of this machine (pid ${adopter.pid}), ` +
    `not this one: ${run}`;
  expect([left, heldByAdopter]).toContain(await lineOf(other, /waits to be adopted|held by another live worker/));
  // Until the run has ended, so that the other has had every chance to say it too
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts])).toEqual([['completed', 1]]);
  // Before: both said `adopting 1 run …` as they started, though only one held it
  expect(adoptedIn(adopter)).toEqual([run]);
  expect(other.output.filter((line) => /adopting/.test(line))).toEqual([]);
  expect(starts(await readJournal(journal))).toHaveLength(1);
}, 90_000);

test('SIGTERM with --on-shutdown stop names the run it stopped', async () => {
  const { dir, journal } = await tempExperimentsDir('run-lines-stop');
  await writeScript(dir, 'exp1_long', journal, { body: 'sleep 60' });
  const { taskQueue, state } = await batchIn(dir, QUICK_LOSS);
  const args = ['--runs-dir', await tempDir('runs-lines-stop'), '--on-shutdown', 'stop', '--machine-id', 'm2'];
  const worker = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  await startBatch(server.env, state);
  await until(async () => starts(await readJournal(journal)).length === 1, 30_000, 'the script to start');

  worker.kill('SIGTERM');
  expect(await worker.exited()).toBe(0);
  expect(worker.output).toContain(
    `staged worker: stopped 1 run (--on-shutdown stop; each runs again): ${state.batchId}/exp1_long (run 1)`,
  );
}, 60_000);

/**
 * `staged worker` (the command, which runs the worker and passes signals on) with `args`, once it has started and the
 * batch's one script runs; `ownGroup`: the command and its worker in a process group of their own, as a terminal has.
 */
async function commandWithRun(taskQueue: string, journal: string, state: BatchState, args: string[], ownGroup = false) {
  const command = execa(process.execPath, [CLI, 'worker', '--slots', '1', '--allow-dir', tmpdir(), ...args], {
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue, STAGED_LOG_LEVEL: 'WARN' },
    detached: ownGroup,
    reject: false,
    stdout: 'pipe',
    buffer: false,
    forceKillAfterDelay: false, // the test sees the command's own stop
  });
  const output: string[] = [];
  createInterface({ input: command.stdout }).on('line', (line) => output.push(line));
  try {
    await until(() => output.some((line) => line.startsWith('staged worker:')), 60_000, 'the worker to start');
    await startBatch(server.env, state);
    await until(async () => starts(await readJournal(journal)).length === 1, 30_000, 'the script to start');
  } catch (err) {
    command.kill('SIGKILL');
    throw err;
  }
  return { command, output };
}

test('Ctrl-C to `staged worker` (SIGINT to its group, passed on again by the command) leaves the run', async () => {
  const { dir, journal } = await tempExperimentsDir('run-lines-ctrl-c');
  await writeScript(dir, 'exp1_long', journal, { body: 'sleep 20' });
  const { taskQueue, state } = await batchIn(dir, QUICK_LOSS);
  const args = ['--runs-dir', await tempDir('runs-lines-ctrl-c'), '--machine-id', 'm3'];
  const { command, output } = await commandWithRun(taskQueue, journal, state, args, true);
  try {
    process.kill(-command.pid!, 'SIGINT');
    expect((await command).exitCode).toBe(0);
    // Before: the second SIGINT killed the worker at once, before it let go of the run, and it said nothing.
    const left = `${state.batchId}/exp1_long (run 1)`;
    expect(output).toContain(`staged worker: left 1 run running for the next worker on this machine to adopt: ${left}`);
  } finally {
    command.kill('SIGKILL');
  }
}, 90_000);

test('SIGTERM to `staged worker --on-shutdown stop`: it waits for a trap that takes 8 s, and says it', async () => {
  const { dir, journal } = await tempExperimentsDir('run-lines-slow-trap');
  const cleaned = path.join(dir, 'cleaned');
  // A checkpoint written on SIGTERM, slower than the 5 s after which execa SIGKILLs a subprocess it sent SIGTERM
  const body = `trap '(trap "" TERM; sleep 8); echo done > "${cleaned}"; exit 143' TERM; sleep 120 & wait`;
  await writeScript(dir, 'exp1_long', journal, { body });
  const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, killGraceMs: 20_000 });
  const args = ['--runs-dir', await tempDir('runs-lines-slow-trap'), '--machine-id', 'm10', '--on-shutdown', 'stop'];
  const { command, output } = await commandWithRun(taskQueue, journal, state, args);
  try {
    command.kill('SIGTERM'); // as systemd's stop: to the command alone, which passes it on
    expect((await command).exitCode).toBe(0);
    // Before: the command SIGKILLed its worker 5 s after passing SIGTERM on: no line, the trap's run left alone
    expect(output).toContain(
      `staged worker: stopped 1 run (--on-shutdown stop; each runs again): ${state.batchId}/exp1_long (run 1)`,
    );
    expect(await readFile(cleaned, 'utf8')).toBe('done\n');
  } finally {
    command.kill('SIGKILL');
  }
}, 120_000);

test('keeper and guard killed with no worker: the next worker says the run lost, after its start line', async () => {
  const { journal, runsRoot, args, first, handle, run, taskQueue } = await oneRunHeld('run-lines-lost', 'm6', 15);
  first.kill('SIGTERM');
  expect(await first.exited()).toBe(0);
  const [files] = await runDirsUnder(runsRoot);
  await killKeeperAndGuardOf(files);

  const second = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  const lost =
    'staged worker: 1 run lost: its keeper died without recording an end; what it left is stopped and it runs ' +
    `again (no retry used), not adopted: ${run}`;
  expect(await lineOf(second, / lost: /)).toBe(lost);
  // Before: `run <directory key>: … the run is lost` before the start line, then `adopting 1 run …` for it
  const startLine = second.output.findIndex((line) => line.includes(' namespace='));
  expect(startLine).toBeGreaterThanOrEqual(0);
  expect(second.output.indexOf(lost)).toBeGreaterThan(startLine);
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts, e.lostRuns])).toEqual([
    ['completed', 2, 1],
  ]);
  expect(starts(await readJournal(journal))).toHaveLength(2);
  expect(second.output.filter((line) => / lost: |adopting|%2F/.test(line))).toEqual([lost]);
}, 120_000);

test('keeper and guard killed under a live worker: it says the run lost, and that it runs again', async () => {
  const { dir, journal } = await tempExperimentsDir('run-lines-lost-held');
  await writeScript(dir, 'exp1_long', journal, { body: 'if [ "$STAGED_ATTEMPT" = 1 ]; then sleep 60; fi' });
  const { taskQueue, state } = await batchIn(dir, QUICK_LOSS);
  const runsRoot = await tempDir('runs-lines-lost-held');
  const worker = await startWorkerProcess(server.env.address, taskQueue, 1, ['--runs-dir', runsRoot]);
  const handle = await startBatch(server.env, state);
  await until(async () => starts(await readJournal(journal)).length === 1, 30_000, 'the script to start');
  const [files] = await runDirsUnder(runsRoot);
  await killKeeperAndGuardOf(files); // the worker holding the run finds its keeper gone

  // Before: nothing (submit and watch said [LOST]; the worker that held the run was silent)
  expect(await lineOf(worker, / lost: /)).toBe(
    'staged worker: 1 run lost: its keeper died without recording an end while this worker held it; what it left ' +
      `is stopped and it runs again (no retry used): ${state.batchId}/exp1_long (run 1)`,
  );
  expect(await handle.result()).toBeDefined();
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts, e.lostRuns])).toEqual([
    ['completed', 2, 1],
  ]);
  expect(starts(await readJournal(journal))).toHaveLength(2);
  expect(worker.output.filter((line) => / lost: |adopting/.test(line))).toHaveLength(1);
}, 120_000);

test('a run that ended while no worker held it is collected by the next worker, not said adopted', async () => {
  const { journal, taskQueue, args, first, handle } = await oneRunHeld('run-lines-ended', 'm8', 3);
  first.kill('SIGTERM');
  expect(await first.exited()).toBe(0);
  await until(async () => (await readJournal(journal)).some((e) => e.event === 'end'), 30_000, 'the script to end');

  const second = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  expect(await handle.result()).toBeDefined();
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts])).toEqual([['completed', 1]]);
  second.kill('SIGTERM'); // its stop says every line it gathered
  expect(await second.exited()).toBe(0);
  // Before: `adopting 1 run left by an earlier worker: …` for a run that had ended before this worker started
  expect(second.output.filter((line) => / lost|adopting/.test(line))).toEqual([]);
}, 120_000);

test('a worker stopped past its heartbeat timeout (a lid) says it lets go of its run when it wakes', async () => {
  const { journal, first, handle, run } = await oneRunHeld('run-lines-lid', 'm7', 20);
  const experiment = server.env.client.workflow.getHandle(run.slice(0, run.indexOf(' (run ')));
  const timedOut = async () =>
    (await experiment.fetchHistory()).events!.some((event) => event.activityTaskTimedOutEventAttributes);
  process.kill(first.pid, 'SIGSTOP');
  try {
    await until(timedOut, 30_000, 'the server to time out the run');
  } finally {
    process.kill(first.pid, 'SIGCONT');
  }
  // Before: nothing until `adopting again …` once the machine queue's adoption came
  const letGo = await lineOf(first, /^staged worker: let go of/);
  expect(letGo).toBe(
    'staged worker: let go of 1 run: the server gave up on it (no heartbeat reached it in time: this machine slept ' +
      `or lost contact); it runs on here, waiting to be adopted again: ${run}`,
  );
  const again = await lineOf(first, /adopting again/);
  expect(again).toBe(`staged worker: adopting again 1 run this worker let go of: ${run}`);
  expect(first.output.indexOf(letGo)).toBeLessThan(first.output.indexOf(again));
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts])).toEqual([['completed', 1]]);
  expect(starts(await readJournal(journal))).toHaveLength(1);
}, 120_000);

test('an activity paused on the server: the worker says so as it lets go of the run, not "gave up"', async () => {
  const { journal, first, handle, run } = await oneRunHeld('run-lines-paused', 'm9', 15);
  const workflowId = run.slice(0, run.indexOf(' (run '));
  await server.env.client.workflowService.pauseActivity({
    namespace: 'default',
    execution: { workflowId },
    type: 'runExperiment',
    identity: 'run-lines test',
    reason: 'a test',
  });
  // Before: `let go of 1 run: the server gave up on it (no heartbeat reached it in time: …)`
  const letGo = await lineOf(first, /^staged worker: let go of/);
  expect(letGo).toBe(
    'staged worker: let go of 1 run: its activity was paused on the server; it runs on here, waiting to be adopted ' +
      `again: ${run}`,
  );
  expect(first.output.filter((line) => /gave up/.test(line))).toEqual([]);
  expect(await handle.result()).toBeDefined();
  expect((await batchSummary(handle)).experiments.map((e) => [e.status, e.attempts])).toEqual([['completed', 1]]);
  expect(starts(await readJournal(journal))).toHaveLength(1);
}, 120_000);

test('an experiment workflow terminated by hand: its worker stops the run at once and says why', async () => {
  const { runsRoot, first, run } = await oneRunHeld('run-lines-terminated', 'm11', 60);
  const workflowId = run.slice(0, run.indexOf(' (run '));
  await server.env.client.workflow.getHandle(workflowId).terminate('by hand');
  // Before: `let go of 1 run: the server gave up on it (no heartbeat reached it in time: …)`, the run stopped later
  expect(await lineOf(first, /: its experiment workflow/)).toBe(
    `staged worker: stopping ${run}: its experiment workflow is terminated`,
  );
  const [files] = await runDirsUnder(runsRoot);
  await until(async () => (await files.readJson<{ end: string }>(files.exit))?.end === 'cancelled', 30_000, 'a stop');
  expect(first.output.filter((line) => /let go of|gave up/.test(line))).toEqual([]);
}, 120_000);
