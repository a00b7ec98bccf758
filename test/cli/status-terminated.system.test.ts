/**
 * `status` of a batch one of whose experiment workflows was terminated by hand (`temporal workflow terminate
 * <batch>/<experiment>`): the experiment failed, and status says it was terminated, by whom and why, while the
 * batch runs on (`--json`: the text lists only running experiments) and once it has ended. Real server, worker
 * process and scripts.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LiveBatchView } from '../../src/cli/display/batch-view.js';
import { batchSummary } from '../../src/batch-client/index.js';
import { EXPERIMENT_TERMINATED, experimentWorkflowId } from '../../src/model/batch-state.js';
import { stagedBinary as staged } from '../helpers/cli.js';
import { until, workerProcessesPerTest } from '../helpers/processes.js';
import { readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

const TERMINATED = /its experiment workflow was terminated by status-test, reason: "wrong data set"/;

test('an experiment workflow terminated by hand: status says so, with the reason, running and ended', async () => {
  const { dir, journal } = await tempExperimentsDir('status-terminated');
  const gate = path.join(dir, '_gate');
  await writeScript(dir, 'exp1_doomed', journal, { body: 'sleep 300' });
  await writeScript(dir, 'exp2_gated', journal, { body: `while [ ! -f "${gate}" ]; do sleep 0.2; done` });
  const { taskQueue, state } = await batchIn(dir, { maxRetries: 0 });
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };
  const statusJson = async () => {
    const { exitCode, stdout } = await staged(['status', state.batchId, '--json'], cli);
    return exitCode === 0 ? (JSON.parse(stdout) as LiveBatchView) : undefined;
  };
  await startWorkerProcess(server.env.address, taskQueue, 2);
  const handle = await startBatch(server.env, state);
  await until(async () => (await readJournal(journal)).length === 2, 60_000, 'both experiments to start');

  const doomed = server.env.client.workflow.getHandle(experimentWorkflowId(state.batchId, 'exp1_doomed'));
  await server.env.client.workflowService.terminateWorkflowExecution({
    namespace: server.env.namespace,
    workflowExecution: { workflowId: doomed.workflowId },
    reason: 'wrong data set',
    identity: 'status-test',
  });
  let view: LiveBatchView | undefined;
  await until(async () => (view = await statusJson())?.experiments[0].status === 'failed', 60_000, 'exp1 to fail');
  // Before: "experiment workflow failed: Child Workflow execution failed", and no word of the termination
  expect(view).toMatchObject({ status: 'running' });
  expect(view!.experiments[0].error).toMatch(TERMINATED);

  await writeFile(gate, '');
  await handle.result();
  // What `watch` and the summary files say: before, "experiment workflow failed: Child Workflow execution failed"
  expect((await batchSummary(handle)).experiments[0].error).toBe(EXPERIMENT_TERMINATED);
  const ended = await staged(['status', state.batchId], cli);
  expect(ended.stdout).toMatch(/SUMMARY .*: 1 completed, 1 failed/);
  expect(ended.stdout).toMatch(TERMINATED);
  expect(ended.stdout).not.toMatch(/Child Workflow execution failed/);
  expect((await statusJson())?.experiments[0].error).toMatch(TERMINATED);
}, 180_000);
