/**
 * The small things a new user meets first (issue 18, points 17 and 18): a default that follows the option it
 * depends on, a batch's true outcome in JSON, a Web UI link from where the UI really is, a refusal named as
 * such, a symlink out of the experiments directory refused at submit, `watch | head`, and a duration without
 * the server outage after the run's end.
 */
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { finalBatchState, startBatch as startBatchWorkflow } from '../../src/batch-client/index.js';
import { COMMANDS } from '../../src/cli/command-table.js';
import { rawDefaults } from '../../src/cli/options.js';
import { parseOptions } from '../../src/cli/validate.js';
import { writeServerRecord } from '../../src/server/server-record.js';
import { clusterStateFile, serverPorts } from '../../src/cluster/layout.js';
import type { ExperimentView } from '../../src/model/types.js';
import { ownServer, withStartedServer } from '../helpers/own-server.js';
import { CLI, until, workerProcessesPerTest } from '../helpers/processes.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startWorker, uniqueQueue, useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

function staged(args: string[], options: { cwd: string; env?: Record<string, string> }) {
  return execa(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { TEMPORAL_ADDRESS: server.env.address, ...options.env },
    reject: false,
  });
}

/** Waits for `<dir>/_release`, so the test decides when a script ends. */
const WAIT_FOR_RELEASE =
  'i=0; while [ ! -e "$(dirname "$0")/_release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done';

describe('--kill-grace follows --heartbeat-timeout unless given', () => {
  test('--heartbeat-timeout 5s alone is accepted; its grace is a third of it', async () => {
    const { dir, journal } = await tempExperimentsDir('grace');
    await writeScript(dir, 'exp1_ok', journal);
    const result = await staged(['submit', '--dir', dir, '--dry-run', '--heartbeat-timeout', '5s'], { cwd: dir });
    expect([result.exitCode, result.stderr]).toEqual([0, '']);
    const raw = { ...rawDefaults(COMMANDS.submit.options), heartbeatTimeout: '5s' };
    expect(parseOptions('submit', raw)).toMatchObject({ heartbeatTimeout: 5_000, killGrace: 1_666 });
    expect(parseOptions('submit', rawDefaults(COMMANDS.submit.options)).killGrace).toBe(10_000);
  });

  test('an explicit --kill-grace is still checked against --heartbeat-timeout', async () => {
    const { dir, journal } = await tempExperimentsDir('grace-explicit');
    await writeScript(dir, 'exp1_ok', journal);
    const args = ['submit', '--dir', dir, '--dry-run', '--heartbeat-timeout', '5s', '--kill-grace', '6s'];
    const result = await staged(args, { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--kill-grace must be shorter than --heartbeat-timeout');
  });
});

test('status --json gives a finished batch its own outcome: failed, cancelled or completed', async () => {
  const { dir, journal } = await tempExperimentsDir('outcome');
  await writeScript(dir, 'exp1_ok', journal);
  await writeScript(dir, 'exp2_fails', journal, { body: 'exit 5' });
  const waiting = await tempDir('outcome-wait');
  await writeScript(waiting, 'exp1_waits', journal, { body: WAIT_FOR_RELEASE });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
  const env = { STAGED_TASK_QUEUE: taskQueue };
  const [failed, cancelled, completed] = ['failed', 'cancelled', 'completed'].map((s) => `${s}-${Date.now()}`);

  await worker.runUntil(async () => {
    await staged(['submit', '--dir', dir, '--max-retries', '0', '--batch-id', failed, '--json'], { cwd: dir, env });
    await staged(['submit', '--dir', dir, '--experiments', 'exp1', '--batch-id', completed, '--json'], {
      cwd: dir,
      env,
    });
    await staged(['submit', '--dir', waiting, '--batch-id', cancelled, '--detach'], { cwd: waiting, env });
    await staged(['cancel', cancelled], { cwd: waiting, env });
    await server.env.client.workflow.getHandle(cancelled).result();
  });

  const statusOf = async (batchId: string) =>
    (JSON.parse(String((await staged(['status', batchId, '--json'], { cwd: dir })).stdout)) as { status: string })
      .status;
  expect([await statusOf(failed), await statusOf(cancelled), await statusOf(completed)]).toEqual([
    'failed',
    'cancelled',
    'completed',
  ]);
});

describe('the Web UI link comes from where the UI is known, never from port + 1000', () => {
  const port = () => server.env.address.split(':')[1];
  async function submittedLink(dir: string, env: Record<string, string> = {}) {
    const taskQueue = uniqueQueue();
    const batchId = `link-${Math.random().toString(36).slice(2)}`;
    const result = await staged(['submit', '--dir', dir, '--detach', '--batch-id', batchId], {
      cwd: dir,
      env: { STAGED_TASK_QUEUE: taskQueue, ...env },
    });
    expect(result.exitCode).toBe(0);
    return { batchId, link: /^Web UI: (.*)$/m.exec(String(result.stdout))?.[1] };
  }
  async function experimentsDir(prefix: string) {
    const { dir, journal } = await tempExperimentsDir(prefix);
    await writeScript(dir, 'exp1_ok', journal);
    return dir;
  }

  test("the dev server's record (.staged/server.json)", async () => {
    const dir = await experimentsDir('link-server');
    writeServerRecord(dir, { address: `localhost:${port()}`, uiPort: 41_234, metricsPort: 41_235 });
    const { batchId, link } = await submittedLink(dir);
    expect(link).toBe(`http://127.0.0.1:41234/namespaces/default/workflows/${batchId}`);
  });

  test("the cluster's cluster.json (--ui-port)", async () => {
    const dir = await experimentsDir('link-cluster');
    const state = { host: '127.0.0.1', ports: serverPorts(Number(port())), uiPort: 41_236, ui: true };
    await mkdir(path.dirname(clusterStateFile(dir)), { recursive: true });
    await writeFile(clusterStateFile(dir), JSON.stringify({ ...state, postgresPort: 1, namespace: 'default' }));
    const { batchId, link } = await submittedLink(dir);
    expect(link).toBe(`http://127.0.0.1:41236/namespaces/default/workflows/${batchId}`);
  });

  test('STAGED_WEB_UI, and no link at all when nothing tells where the UI is', async () => {
    const dir = await experimentsDir('link-env');
    const { batchId, link } = await submittedLink(dir, { STAGED_WEB_UI: 'https://temporal.example/' });
    expect(link).toBe(`https://temporal.example/namespaces/default/workflows/${batchId}`);
    expect((await submittedLink(dir)).link).toBeUndefined();
  });
});

test("a worker's refusal is recorded as reason `refused` with attempts 0", async () => {
  const { dir, journal } = await tempExperimentsDir('refused');
  const script = await writeScript(dir, 'exp1_refused', journal);
  const taskQueue = uniqueQueue();
  const batchId = `refused-${Date.now()}`;
  const env = { STAGED_TASK_QUEUE: taskQueue };
  expect((await staged(['submit', '--dir', dir, '--detach', '--batch-id', batchId], { cwd: dir, env })).exitCode).toBe(
    0,
  );
  await chmod(script, 0o644); // no longer executable when a worker takes it
  const worker = await startWorker(server.env, taskQueue, 1);
  await worker.runUntil(server.env.client.workflow.getHandle(batchId).result());

  const status = await staged(['status', batchId, '--json'], { cwd: dir });
  const [experiment] = (JSON.parse(String(status.stdout)) as { experiments: ExperimentView[] }).experiments;
  expect(experiment).toMatchObject({ status: 'failed', reason: 'refused', attempts: 0 });
  expect(experiment.error).toContain('script is not executable');
});

test('a script that is a symlink out of the experiments directory is refused at submit (exit 2)', async () => {
  const { dir, journal } = await tempExperimentsDir('symlink');
  const elsewhere = await tempDir('symlink-target');
  const target = await writeScript(elsewhere, 'outside', journal);
  await symlink(target, path.join(dir, 'exp1_linked.sh'));
  const batchId = `symlink-${Date.now()}`;
  const result = await staged(['submit', '--dir', dir, '--detach', '--batch-id', batchId], { cwd: dir });
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain(`resolves to ${target}, outside the experiments directory`);
});

test('`watch … | head` ends quietly, without an EPIPE stack trace', async () => {
  const { dir, journal } = await tempExperimentsDir('epipe');
  await writeScript(dir, 'exp1_waits', journal, { body: WAIT_FOR_RELEASE });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 1);
  const env = { STAGED_TASK_QUEUE: taskQueue };
  const batchId = `epipe-${Date.now()}`;
  await worker.runUntil(async () => {
    await staged(['submit', '--dir', dir, '--detach', '--batch-id', batchId], { cwd: dir, env });
    const watch = `set -o pipefail; node ${CLI} watch ${batchId} --status-interval 200ms | head -n 1`;
    const piped = await execa('bash', ['-c', watch], {
      cwd: dir,
      env: { TEMPORAL_ADDRESS: server.env.address, ...env },
      reject: false,
    });
    await writeFile(path.join(dir, '_release'), '');
    expect(piped.stdout.split('\n')).toHaveLength(1);
    expect(piped.stderr).toBe('');
    expect(piped.exitCode).toBe(0);
    await server.env.client.workflow.getHandle(batchId).result();
  });
});

test("a run that ended while the server was down keeps its own duration, not the outage's", async () => {
  const OUTAGE_MS = 10_000;
  const { dir, journal } = await tempExperimentsDir('outage');
  await writeScript(dir, 'exp1_waits', journal, { body: WAIT_FOR_RELEASE });
  const devServer = await ownServer(dir);
  const { taskQueue, state } = await batchIn(dir);
  await withStartedServer(devServer, async (client) => {
    await startWorkerProcess(devServer.address, taskQueue, 1);
    const handle = await startBatchWorkflow(client, state);
    await until(async () => (await readJournal(journal)).length === 1, 30_000, 'the run to start');
    await devServer.kill();
    await writeFile(path.join(dir, '_release'), '');
    await until(async () => (await readJournal(journal)).length === 2, 30_000, 'the run to end');
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const restartedAt = Date.now();
    await devServer.start();
    const [record] = (await finalBatchState(handle)).records;

    const [, end] = await readJournal(journal);
    expect(record.status).toBe('completed');
    // Its keeper's start and end: both before the server was back.
    expect(record.startedAt!).toBeLessThan(end.atMs);
    expect(record.closedAt!).toBeGreaterThanOrEqual(end.atMs);
    expect(record.closedAt!).toBeLessThan(restartedAt);
  });
}, 120_000);
