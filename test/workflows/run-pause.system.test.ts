/**
 * `pause`/`resume <batchId> <exp>…` on a real server, through the CLI, with real worker and keeper processes: a
 * running experiment's run is frozen where it is (its file stops growing), its --timeout clock stops, it stays held
 * (never lost) across a SIGKILL of its worker's process group and an adoption by the next worker, and `resume` thaws
 * it. Each kill mode this machine has: its own cgroup (cgroup.freeze) where it can, and the /proc scan (SIGSTOP).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { batchSummary, queryBatchState } from '../../src/batch-client/index.js';
import { parseRunKey, type FrozenRecord, type RunStarted } from '../../src/keeper/run-files.js';
import type { LiveBatchView } from '../../src/cli/display/batch-view.js';
import { experimentWorkflowId } from '../../src/model/batch-state.js';
import { STATUS_SEARCH_ATTRIBUTE } from '../../src/protocol/search-attributes.js';
import { packBatchState } from '../../src/model/packed-state.js';
import type { SteerAnswer } from '../../src/model/steering.js';
import type { BatchState } from '../../src/model/types.js';
import { CLI, until, workerProcessesPerTest, type WorkerProcess } from '../helpers/processes.js';
import { runDirsUnder } from '../helpers/runs.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

function staged(args: string[]) {
  return execa(process.execPath, [CLI, ...args], { env: { TEMPORAL_ADDRESS: server.env.address }, reject: false });
}

async function stagedJson(args: string[]): Promise<SteerAnswer> {
  const result = await staged([...args, '--json']);
  if (result.exitCode !== 0) throw new Error(`staged ${args.join(' ')}: exit ${result.exitCode}: ${result.stderr}`);
  return JSON.parse(String(result.stdout)) as SteerAnswer;
}

const packed = (state: BatchState) => JSON.stringify(packBatchState(state));
const countOf = async (file: string) =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

/** A worker in a process group of its own (setsid), so that a SIGKILL of its group takes it whole. */
async function groupWorker(taskQueue: string, runsRoot: string, mode: string): Promise<WorkerProcess> {
  const prefix = [...(mode === 'process-scan' ? ['env', 'STAGED_KILL_MODE=process-scan'] : []), 'setsid'];
  return startWorkerProcess(server.env.address, taskQueue, 3, ['--runs-dir', runsRoot], { prefix });
}

/** The experiment's StagedStatus, as the Web UI shows and filters it. */
async function shownStatusOf(batchId: string, name: string): Promise<string | undefined> {
  const handle = server.env.client.workflow.getHandle(experimentWorkflowId(batchId, name));
  return (await handle.describe()).typedSearchAttributes.get(STATUS_SEARCH_ATTRIBUTE);
}

/** Which worker holds the experiment's run: the identity of its pending activity's last worker. */
async function holderOf(batchId: string, name: string): Promise<string | undefined> {
  const handle = server.env.client.workflow.getHandle(experimentWorkflowId(batchId, name));
  const { raw } = await handle.describe();
  return raw.pendingActivities?.[0]?.lastWorkerIdentity ?? undefined;
}

test.each(['cgroup or process-scan, as the machine allows', 'process-scan'])(
  'a paused run stops where it is, is not timed out or lost while frozen (its worker SIGKILLed and replaced), ' +
    'and goes on from there once resumed; every refused pause or resume exits 2 (%s)',
  async (mode) => {
    const { dir, journal } = await tempExperimentsDir('run-pause');
    const runsRoot = await tempDir('run-pause-runs');
    const gate = path.join(dir, 'gate');
    // Reports 50% once, then appends a counter line every 100 ms until the gate opens.
    const count = `"${dir}/_count_$STAGED_EXPERIMENT"`;
    const loop = `i=0; while [ ! -e "${gate}" ]; do i=$((i+1)); echo $i >> ${count}; sleep 0.1; done`;
    const body = `echo "PROGRESS 50%"; ${loop}`;
    for (const name of ['exp1_timed', 'exp2_adopted']) await writeScript(dir, name, journal, { body });
    await writeScript(dir, 'exp3_queued', journal, { body: 'true' });
    // Room for a loaded machine's CLI calls while the runs are not frozen; they are frozen for longer than all of it.
    const timeoutMs = 25_000;
    const { taskQueue, state } = await batchIn(dir, {
      maxConcurrent: 2,
      maxRetries: 0,
      retryTimeouts: false,
      timeoutMs,
      heartbeatTimeoutMs: 2_000,
      killGraceMs: 1_000,
    });
    const { batchId } = state;
    const counter = (name: string) => path.join(dir, `_count_${name}`);
    const running = ['exp1_timed', 'exp2_adopted'];
    const first = await groupWorker(taskQueue, runsRoot, mode);
    const handle = await startBatch(server.env, state);
    for (const name of running) {
      await until(async () => (await countOf(counter(name))) >= 3, 60_000, `${name} to count`);
    }
    await until(
      async () => (await queryBatchState(handle)).records.filter((r) => r.status === 'running').length === 2,
      30_000,
      'both runs announced',
    );

    const notPaused = await staged(['resume', batchId, 'exp1_timed']);
    expect([notPaused.exitCode, notPaused.stderr]).toEqual([2, expect.stringMatching(/exp1_timed is not paused/)]);

    const askedAt = Date.now();
    const paused = await stagedJson(['pause', batchId, 'exp1', 'exp2']);
    const answeredMs = Date.now() - askedAt;
    const atAnswer = await Promise.all(running.map((name) => countOf(counter(name))));
    expect(paused.experiments.map((e) => [e.name, e.status, typeof e.pausedSince])).toEqual([
      ['exp1_timed', 'running', 'number'],
      ['exp2_adopted', 'running', 'number'],
    ]);
    const frozenAt = Math.max(...paused.experiments.map((e) => e.pausedSince!));
    // The answer comes once the runs are frozen: nothing grows from then on.
    await delay(1_500);
    expect(await Promise.all(running.map((name) => countOf(counter(name))))).toEqual(atAnswer);

    const status = await staged(['status', batchId]);
    expect(status.stdout).toMatch(/\[PAUSED\] exp1_timed for .*: its run is frozen until resume/);
    expect(status.stdout).toMatch(/\[PAUSED\] exp2_adopted for /);
    const json = JSON.parse(String((await staged(['status', batchId, '--json'])).stdout)) as {
      experiments: { name: string; pausedSince?: string }[];
    };
    expect(json.experiments.filter((e) => e.pausedSince).map((e) => e.name)).toEqual(running);
    await until(async () => (await shownStatusOf(batchId, 'exp1_timed')) === 'paused', 10_000, 'StagedStatus paused');

    // Refused while the runs are frozen: their --timeout clock does not count the CLI's time.
    const refused = [
      { args: ['pause', batchId, 'exp1_timed'], says: /exp1_timed is already paused/ },
      { args: ['pause', batchId, 'exp99'], says: /has no experiment "exp99"/ },
      { args: ['pause', batchId, 'exp3'], says: /exp3_queued is not running \(queued\)/ },
      { args: ['resume', batchId, 'exp3_queued'], says: /exp3_queued is not running \(queued\)/ },
    ];
    const whilePaused = packed(await queryBatchState(handle));
    for (const { args, says } of refused) {
      const result = await staged(args);
      expect([args.join(' '), result.exitCode, says.test(result.stderr) ? 'says why' : result.stderr]).toEqual([
        args.join(' '),
        2,
        'says why',
      ]);
    }
    expect(packed(await queryBatchState(handle))).toBe(whilePaused);

    // Its worker's whole process group dies; the next worker adopts the frozen runs where they are.
    const holderBefore = await holderOf(batchId, 'exp2_adopted');
    process.kill(-first.pid, 'SIGKILL');
    const second = await groupWorker(taskQueue, runsRoot, mode);
    await until(
      async () => (await holderOf(batchId, 'exp2_adopted'))?.startsWith(`${second.pid}@`) === true,
      60_000,
      'the new worker to adopt the run',
    );
    expect(holderBefore?.startsWith(`${first.pid}@`)).toBe(true);
    // Frozen for longer than the whole --timeout, adoption included.
    await delay(Math.max(0, frozenAt + timeoutMs + 1_000 - Date.now()));
    expect(await Promise.all(running.map((name) => countOf(counter(name))))).toEqual(atAnswer);
    const adopted = await queryBatchState(handle);
    expect(adopted.records.slice(0, 2).map((r) => [r.status, r.attempts, r.pausedSince])).toEqual([
      ['running', 1, expect.any(Number)],
      ['running', 1, expect.any(Number)],
    ]);
    const runDirs = await runDirsUnder(runsRoot);
    expect(runDirs).toHaveLength(2);
    const kept = await Promise.all(runDirs.map((files) => files.readJson<RunStarted>(files.state)));
    if (mode === 'process-scan') expect(kept.map((run) => run?.killMode)).toEqual(['process-scan', 'process-scan']);
    const frozen = await Promise.all(runDirs.map((files) => files.readJson<FrozenRecord>(files.frozen)));
    expect(frozen.map((record) => record?.since)).toEqual([expect.any(Number), expect.any(Number)]);

    const resumed = await stagedJson(['resume', batchId, 'exp1_timed', 'exp2_adopted']);
    expect(resumed.experiments.map((e) => [e.name, e.status, e.pausedSince])).toEqual([
      ['exp1_timed', 'running', undefined],
      ['exp2_adopted', 'running', undefined],
    ]);
    for (const [index, name] of running.entries()) {
      await until(async () => (await countOf(counter(name))) > atAnswer[index], 30_000, `${name} to count again`);
    }
    expect(await shownStatusOf(batchId, 'exp1_timed')).toBe('running');
    // Read before the runs end: a run's directory goes once its workflow has closed.
    const thawed = await Promise.all(runDirs.map((files) => files.readJson<FrozenRecord>(files.frozen)));
    const frozenMs = Math.min(...thawed.map((record) => record!.endedSpansMs));
    expect(frozenMs).toBeGreaterThan(timeoutMs);
    // At once, with no report since: a run 50% done needs as long again as it ran not frozen. Before: its frozen time
    // counted as running too, until its script reported again.
    const frozenMsOf = new Map(
      runDirs.map((files, index) => [parseRunKey(path.basename(files.dir)).workflowId, thawed[index]!.endedSpansMs]),
    );
    let etaErrors: (number | null)[] = [];
    await until(
      async () => {
        const view = JSON.parse(String((await staged(['status', batchId, '--json'])).stdout)) as LiveBatchView;
        etaErrors = running.map((name) => {
          const { etaSeconds, attemptElapsedSeconds } = view.experiments.find((e) => e.name === name)!;
          const notFrozenMs = attemptElapsedSeconds! * 1000 - frozenMsOf.get(experimentWorkflowId(batchId, name))!;
          return etaSeconds == null ? null : Math.round(etaSeconds * 1000 - notFrozenMs);
        });
        return etaErrors.every((error) => error !== null && Math.abs(error) <= 200); // both rounded to 0.1 s
      },
      15_000,
      'the ETAs to count only the time not frozen',
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ETA minus the time not frozen, ms: ${etaErrors.join(', ')}`);
    });
    await writeFile(gate, '');
    const summary = await batchSummary(handle);

    // Neither timed out nor ran again: one start each, attempt 1, completed.
    expect(summary.experiments.map((e) => [e.name, e.status, e.attempts])).toEqual([
      ['exp1_timed', 'completed', 1],
      ['exp2_adopted', 'completed', 1],
      ['exp3_queued', 'completed', 1],
    ]);
    const starts = (await readJournal(journal)).filter((entry) => entry.event === 'start').map((entry) => entry.name);
    expect(starts.sort()).toEqual(['exp1_timed', 'exp2_adopted', 'exp3_queued']);
    const ended = await staged(['pause', batchId, 'exp1_timed']);
    expect([ended.exitCode, ended.stderr]).toEqual([2, expect.stringMatching(/has ended/)]);
    console.log(
      `[${kept[0]?.killMode}] pause answered in ${answeredMs} ms; 0 lines after it in 1.5 s; ` +
        `frozen ${frozenMs} ms (timeout ${timeoutMs} ms), adopted by a new worker meanwhile`,
    );
  },
  240_000,
);
