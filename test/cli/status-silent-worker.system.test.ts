/**
 * `status` of a run whose worker was SIGKILLed and that waits for a worker of its machine to adopt it, while a
 * worker of another machine answers for the batch. Past the heartbeat timeout, the run's activity is a new one
 * with no heartbeat: the note that its worker has not been heard from, and its last progress, must stay.
 */
import proto from '@temporalio/proto';
import type { LiveBatchView, LiveExperimentView } from '../../src/cli/display/batch-view.js';
import { batchSummary } from '../../src/batch-client/index.js';
import { experimentWorkflowId } from '../../src/model/batch-state.js';
import { stagedBinary as staged } from '../helpers/cli.js';
import { until, workerProcessesPerTest } from '../helpers/processes.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();
const { PENDING_ACTIVITY_STATE_SCHEDULED } = proto.temporal.api.enums.v1.PendingActivityState;

/** batch-view.ts shows the note past 10 s of silence. */
const SILENT_NOTE_AFTER_S = 10;
const HEARTBEAT_TIMEOUT_MS = 2_000;
/** Long enough that a loaded machine's `status` shows the note while the run still waits to be adopted. */
const ADOPT_WINDOW = '45s';

test('a run waiting for adoption after a worker SIGKILL: status says its worker is silent, with progress', async () => {
  const { dir, journal } = await tempExperimentsDir('silent-worker');
  // Run 1 reports progress and runs on; the run started again once the machine is given up ends at once.
  const body = '[ "$STAGED_ATTEMPT" = 1 ] && { echo "PROGRESS 3/10"; sleep 600; }; true';
  await writeScript(dir, 'exp1_silent', journal, { body });
  const { taskQueue, state } = await batchIn(dir, { heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, killGraceMs: 500 });
  const machineArgs = async (machine: string) => [
    '--machine-id',
    machine,
    '--runs-dir',
    await tempDir(`runs-${machine}`),
    '--adopt-window',
    ADOPT_WINDOW,
  ];
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };
  const runOf = async (): Promise<LiveExperimentView | undefined> => {
    const { exitCode, stdout } = await staged(['status', state.batchId, '--json'], cli);
    return exitCode === 0 ? (JSON.parse(stdout) as LiveBatchView).experiments[0] : undefined;
  };

  const lost = await startWorkerProcess(server.env.address, taskQueue, 1, await machineArgs('lost'));
  const handle = await startBatch(server.env, state);
  await until(async () => (await runOf())?.progress?.percent === 30, 60_000, 'run 1 to report its progress');
  // Another machine's worker answers status for the batch; it cannot adopt the run, which lives on `lost`.
  await startWorkerProcess(server.env.address, taskQueue, 1, await machineArgs('witness'));
  lost.kill('SIGKILL');

  let run: LiveExperimentView | undefined;
  await until(
    async () => (run = await runOf())?.workerSilentSeconds !== undefined,
    60_000,
    "status to say the run's worker is silent",
  );
  const experiment = handle.client.getHandle(experimentWorkflowId(state.batchId, 'exp1_silent'));
  const { raw } = await experiment.describe();

  expect(raw.pendingActivities?.[0]?.state).toBe(PENDING_ACTIVITY_STATE_SCHEDULED);
  expect(run).toMatchObject({ status: 'running', attempts: 1, progress: { percent: 30, done: 3, total: 10 } });
  expect(run!.workerSilentSeconds).toBeGreaterThanOrEqual(SILENT_NOTE_AFTER_S); // shown to 0.1 s: 10.04 s is 10
  // Once the machine is given up, the experiment starts again on the other one and ends.
  const summary = await batchSummary(handle);
  expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 2 });
  expect((await readJournal(journal)).filter((entry) => entry.event === 'start')).toHaveLength(2);
}, 180_000);
