/**
 * `status` of a running batch that no worker answers for: right after its only worker was SIGKILLed, and on a task
 * queue nobody polls. It answers at once with what Temporal keeps (no 10-s wait for the query), says so, and names
 * the queue a worker must poll. And `status` without an id lists the batches of the task queue in use.
 */
import type { LiveBatchView } from '../../src/cli/display/batch-view.js';
import { ANSWER_TIMEOUT_MS } from '../../src/batch-client/index.js';
import { stagedBinary as staged } from '../helpers/cli.js';
import { until, workerProcessesPerTest } from '../helpers/processes.js';
import { tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

/** Well under the 10 s the query waited for before, with room for a loaded machine. */
const ANSWERED_WITHIN_MS = ANSWER_TIMEOUT_MS / 2;

async function timed<T>(work: Promise<T>): Promise<{ result: T; ms: number }> {
  const startedAt = Date.now();
  const result = await work;
  return { result, ms: Date.now() - startedAt };
}

test("status right after the batch's only worker is SIGKILLed: at once, from Temporal, with progress", async () => {
  const { dir, journal } = await tempExperimentsDir('no-worker');
  await writeScript(dir, 'exp1_long', journal, { body: 'echo "PROGRESS 3/10"; sleep 600' });
  const { taskQueue, state } = await batchIn(dir, { heartbeatTimeoutMs: 5_000, killGraceMs: 1_000 });
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };
  // A short adoption window: the run's keeper stops it soon after the test.
  const runsDir = await tempDir('no-worker-runs');
  const worker = await startWorkerProcess(server.env.address, taskQueue, 1, [
    '--runs-dir',
    runsDir,
    '--adopt-window',
    '20s',
  ]);
  await startBatch(server.env, state);
  const statusJson = async () => {
    const { exitCode, stdout } = await staged(['status', state.batchId, '--json'], cli);
    return exitCode === 0 ? (JSON.parse(stdout) as LiveBatchView) : undefined;
  };
  await until(async () => (await statusJson())?.experiments[0].progress?.percent === 30, 60_000, 'progress 30%');

  worker.kill('SIGKILL');
  await worker.exited();
  const text = await timed(staged(['status', state.batchId], cli));
  const json = await timed(statusJson());
  // Seen from elsewhere (another machine id), the worker cannot be told dead: its last poll ended a moment ago.
  const elsewhere = { ...cli, env: { ...cli.env, STAGED_MACHINE_ID: 'another-machine' } };
  const fromElsewhere = await timed(staged(['status', state.batchId], elsewhere));

  expect(text.result).toMatchObject({ exitCode: 0, stderr: '' });
  expect(text.ms).toBeLessThan(ANSWERED_WITHIN_MS);
  const lines = text.result.stdout.split('\n');
  expect(lines[0]).toBe(`Batch ${state.batchId}: running`);
  expect(lines[1]).toMatch(
    new RegExp(
      `^\\[NO WORKER\\] No worker polls task queue "${taskQueue}" \\(last poll .* ago by ${worker.pid}@\\S+ .*, ` +
        'a process of this machine that has exited\\)$',
    ),
  );
  // Nothing serves the batch: no ETA, though its run's pace is known.
  expect(lines).toContain('[STATUS] Queue: 0 | Running: 1 | Completed: 0 | Failed: 0');
  expect(lines).toContainEqual(expect.stringMatching(/^ {4}- exp1_long \(.*attempt 1, 30% 3\/10/));
  expect(json.ms).toBeLessThan(ANSWERED_WITHIN_MS);
  expect(json.result).toMatchObject({
    status: 'running',
    eta: null,
    noWorker: { taskQueue, polledRecently: false, lastPollerExited: true, lastPoller: expect.stringMatching(/^\d+@/) },
    experiments: [{ name: 'exp1_long', status: 'running', progress: { percent: 30 } }],
  });
  expect(fromElsewhere.result.exitCode).toBe(0);
  expect(fromElsewhere.ms).toBeLessThan(ANSWERED_WITHIN_MS);
  expect(fromElsewhere.result.stdout.split('\n')[1]).toMatch(
    new RegExp(
      `^\\[NO WORKER\\] No worker answered for the batch within \\d+\\.\\ds \\(task queue "${taskQueue}": last poll`,
    ),
  );
  // It may be a slow worker rather than a dead one: the rest is said only of one that stopped.
  expect(fromElsewhere.result.stdout.split('\n')[2]).toMatch(
    /^ {2}If that worker stopped, nothing new starts; a run shown running may have ended since/,
  );
}, 120_000);

test('status of a batch on a task queue no worker polls: at once, from the state it started with', async () => {
  const { dir, journal } = await tempExperimentsDir('never-polled');
  await writeScript(dir, 'exp1_a', journal);
  await writeScript(dir, 'exp2_b', journal);
  const { taskQueue, state } = await batchIn(dir);
  await startBatch(server.env, state);
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: 'elsewhere' } };

  const { result, ms } = await timed(staged(['status', state.batchId], cli));
  const json = await staged(['status', state.batchId, '--json'], cli);

  expect(result).toMatchObject({ exitCode: 0, stderr: '' });
  expect(ms).toBeLessThan(ANSWERED_WITHIN_MS);
  const lines = result.stdout.split('\n');
  expect(lines[1]).toBe(`[NO WORKER] No worker polls task queue "${taskQueue}" (no poll in the last 5 min)`);
  // The queue is not the one in use here: the hint names it.
  expect(lines[2]).toMatch(
    new RegExp(`^  Nothing new starts\\. Start a worker with: .*worker --task-queue ${taskQueue}$`),
  );
  expect(lines).toContain('[STATUS] Queue: 2 | Running: 0 | Completed: 0 | Failed: 0');
  expect(JSON.parse(json.stdout)).toMatchObject({
    noWorker: { taskQueue, polledRecently: false, lastPollAt: null, lastPoller: null, cancelRequested: false },
    counts: { queued: 2 },
  });

  // A cancel asked for while no worker runs the batch waits for one: status says so.
  expect((await staged(['cancel', state.batchId], cli)).exitCode).toBe(0);
  const afterCancel = await staged(['status', state.batchId], cli);
  expect(afterCancel.stdout.split('\n')).toContain(
    '  [CANCEL] asked for: once a worker runs the batch, nothing queued starts and its running runs stop',
  );
  expect(JSON.parse((await staged(['status', state.batchId, '--json'], cli)).stdout).noWorker).toMatchObject({
    cancelRequested: true,
  });
}, 60_000);

test("a steering command no worker answers for names the batch's task queue in its hint", async () => {
  const { dir, journal } = await tempExperimentsDir('steer-never-polled');
  await writeScript(dir, 'exp1_a', journal);
  const { taskQueue, state } = await batchIn(dir);
  await startBatch(server.env, state);
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: 'elsewhere' } };

  const result = await staged(['pause', state.batchId], cli);

  expect(result.exitCode).not.toBe(0);
  // A plain `worker` would poll "elsewhere" and never answer for this batch.
  expect(result.stderr).toMatch(
    new RegExp(`no worker answers for it .*start one with: .*worker --task-queue ${taskQueue}$`, 'm'),
  );
}, 60_000);

test('status without an id lists the batches of the task queue in use; --all-queues lists every queue', async () => {
  const { dir, journal } = await tempExperimentsDir('list-queues');
  await writeScript(dir, 'exp1_a', journal);
  const first = await batchIn(dir);
  const second = await batchIn(dir);
  await startBatch(server.env, first.state);
  await startBatch(server.env, second.state);
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: first.taskQueue } };
  type Listing = { taskQueue: string | null; batches: { batchId: string; taskQueue: string; workDir: string }[] };
  const list = async (args: string[]) =>
    JSON.parse((await staged(['status', '--json', ...args], cli)).stdout) as Listing;
  const ids = (listing: Listing) => listing.batches.map((batch) => batch.batchId);
  await until(
    async () => ids(await list(['--all-queues'])).includes(second.state.batchId),
    30_000,
    'visibility to list both batches',
  );

  expect(await list([])).toEqual({
    taskQueue: first.taskQueue,
    batches: [expect.objectContaining({ batchId: first.state.batchId, taskQueue: first.taskQueue })],
  });
  expect(ids(await list(['--task-queue', second.taskQueue]))).toEqual([second.state.batchId]);
  const all = await list(['--all-queues']);
  expect(all.taskQueue).toBeNull();
  expect(ids(all)).toEqual(expect.arrayContaining([first.state.batchId, second.state.batchId]));
  const text = (await staged(['status'], cli)).stdout.split('\n');
  expect(text[0]).toBe(`Recent batches on task queue "${first.taskQueue}" (every queue: --all-queues):`);
  expect(text.slice(2).map((line) => line.trim().split(/\s+/)[3])).toEqual([first.state.batchId]);
  // Two projects on one server: each row says where its batch runs.
  expect(text.slice(2).map((line) => line.trim().split(/\s+/).at(-1))).toEqual([first.settings.workDir]);
  expect((await list([])).batches.map((batch) => batch.workDir)).toEqual([first.settings.workDir]);
}, 60_000);
