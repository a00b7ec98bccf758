/**
 * The watchdog of a run shown running that nobody can hold: its adoptions fail again and again (here: the keeper's
 * state.json is unreadable; an unreadable spec.json no longer stops an adoption). `status` flags it stuck once no
 * heartbeat came for longer than the adoption window, and the workflow starts a fresh run, using no retry, instead of
 * looping.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { batchSummary } from '../../src/batch-client/index.js';
import { serverIdOf } from '../../src/machine/runs-layout.js';
import { RunFiles, runKeyOf } from '../../src/keeper/run-files.js';
import { experimentWorkflowId } from '../../src/model/batch-state.js';
import type { BatchSummary } from '../../src/model/types.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { pidAlive, until, workerProcessesPerTest } from '../helpers/processes.js';

const CLI = fileURLToPath(new URL('../../src/client.js', import.meta.url));
const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

const ADOPT_WINDOW_S = 20;

test('a run whose adoptions keep failing is flagged stuck by status, then started afresh using no retry', async () => {
  const { dir, journal } = await tempExperimentsDir('stuck');
  // Run 1 would run for 10 minutes; a fresh run ends at once.
  await writeScript(dir, 'exp1_stuck', journal, { body: '[ "$STAGED_ATTEMPT" = 1 ] && sleep 600; true' });
  const { taskQueue, state } = await batchIn(dir, { heartbeatTimeoutMs: 4_000, killGraceMs: 1_000, maxRetries: 0 });
  const runsRoot = await tempDir('runs-stuck');
  const args = ['--machine-id', 'stuck', '--runs-dir', runsRoot, '--adopt-window', `${ADOPT_WINDOW_S}s`];
  const serverDir = `server-${await serverIdOf(server.env.nativeConnection, server.env.namespace)}`;
  const workflowId = experimentWorkflowId(state.batchId, 'exp1_stuck');
  const run1 = new RunFiles(path.join(runsRoot, serverDir, taskQueue, runKeyOf(workflowId, 1)));

  const first = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  const handle = await startBatch(server.env, state);
  await until(async () => (await readJournal(journal)).length === 1, 60_000, 'run 1 to start');
  await until(
    async () => (await statusJson(state.batchId, taskQueue)).experiments[0].status === 'running',
    30_000,
    'the experiment to show running',
  );
  first.kill('SIGKILL');
  await writeFile(run1.state, '{ not json'); // every adoption of run 1 now fails at once
  await startWorkerProcess(server.env.address, taskQueue, 1, args);

  let stuck: string | undefined;
  await until(
    async () => (stuck = (await statusJson(state.batchId, taskQueue)).experiments[0].stuck) !== undefined,
    90_000,
    'status to flag the run stuck',
  );
  const summary = await summaryWithin(handle, 120_000);

  expect(stuck).toMatch(/^no heartbeat from its run for \d/);
  expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 2 });
  const starts = (await readJournal(journal)).filter((entry) => entry.event === 'start');
  expect(starts.map((entry) => entry.attempt)).toEqual([1, 2]);
  expect(pidAlive(starts[0].pid)).toBe(false);
}, 240_000);

interface StatusView {
  experiments: { status: string; stuck?: string }[];
}

async function statusJson(batchId: string, taskQueue: string): Promise<StatusView> {
  const result = await execa(process.execPath, [CLI, 'status', batchId, '--json'], {
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
  return result.exitCode === 0 ? (JSON.parse(String(result.stdout)) as StatusView) : { experiments: [{ status: '' }] };
}

/** Resolves with the summary, or fails after `ms` (a run looping on its adoption never ends). */
async function summaryWithin(handle: Parameters<typeof batchSummary>[0], ms: number): Promise<BatchSummary> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`batch ${handle.workflowId} did not end within ${ms / 1000}s`)), ms);
  });
  try {
    return await Promise.race([batchSummary(handle), late]);
  } finally {
    clearTimeout(timer);
  }
}
