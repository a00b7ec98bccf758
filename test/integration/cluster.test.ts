/**
 * `cluster up|status|down` as a user runs it: real PostgreSQL, Temporal server and Web UI processes
 * in a scratch work dir on ports of their own, a real batch run through them by a worker process.
 * The programs are found, not built (`.ci/run` runs `cluster prepare` first).
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { clusterFiles, clusterHome, serverPorts, type ClusterService } from '../../src/cluster/layout.js';
import { findPostgres } from '../../src/cluster/postgres.js';
import { runningPidOf } from '../../src/server/background.js';
import { groupAlive } from '../../src/server/process-group.js';
import { freePort } from '../../src/server/dev-server-process.js';
import { serverAnswers } from '../../src/server/dev-server.js';
import type { BatchSummary } from '../../src/model/types.js';
import { CLI, spawnWorker, until, type WorkerProcess } from '../helpers/processes.js';
import { maxOverlap, readJournal, tempDir, writeScript } from '../helpers/scripts.js';
import { uniqueQueue } from '../helpers/temporal.js';
import { freeServerPort } from '../../src/cluster/free-ports.js';
import { portFree } from '../../src/server/ports.js';

const SERVICES: ClusterService[] = ['postgres', 'server', 'ui'];

/** PostgreSQL is installed, or `up` may install it (as root); otherwise nothing here can run. */
async function whyCannotRun(): Promise<string | undefined> {
  if (process.getuid?.() === 0) return undefined;
  return findPostgres(() => undefined).then(
    () => undefined,
    (err: Error) => err.message,
  );
}

const reason = await whyCannotRun();
if (reason) console.warn(`cluster tests skipped: ${reason}`);
const clusterTest = reason ? test.skip : test;

let workDir = '';
let worker: WorkerProcess | undefined;

/** The environment without a Temporal connection of the caller's: only `env`'s. */
function staged(args: string[], env: Record<string, string> = {}) {
  const own = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_')));
  return execa(process.execPath, [CLI, ...args, '--work-dir', workDir], {
    env: { ...own, ...env },
    extendEnv: false,
    reject: false,
  });
}

/** Exit 0, or a failure that shows what the command said. */
function expectSuccess(result: { exitCode?: number; stdout: unknown; stderr: unknown }) {
  expect(result.exitCode === 0 ? 0 : `exit ${result.exitCode}: ${String(result.stderr)}${String(result.stdout)}`).toBe(
    0,
  );
}

afterAll(async () => {
  worker?.kill('SIGKILL');
  if (!workDir) return;
  await staged(['cluster', 'down']);
  await rm(workDir, { recursive: true, force: true });
});

clusterTest(
  'cluster up runs PostgreSQL, the Temporal server and the Web UI in the background; a batch runs on it; ' +
    'the server SIGKILLed mid-batch and started again loses nothing; status says where; down stops everything',
  async () => {
    workDir = await tempDir('cluster');
    // mkdtemp makes it 0700: as root, PostgreSQL runs as the postgres user, who must enter it.
    await chmod(workDir, 0o755);
    const port = await freeServerPort();
    const uiPort = await freePort();
    const postgresPort = await freePort();
    const address = `127.0.0.1:${port}`;
    const ports = ['--port', String(port), '--ui-port', String(uiPort), '--postgres-port', String(postgresPort)];

    const startedAt = Date.now();
    const up = await staged(['cluster', 'up', ...ports]);
    console.log(`cluster up: ${Date.now() - startedAt} ms`);
    expectSuccess(up);
    expect(up.stdout).toContain('[OK] Temporal cluster up');
    expect(await serverAnswers(address)).toBe(true);

    const again = await staged(['cluster', 'up', ...ports]);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('already running');

    const experimentsDir = path.join(workDir, 'experiments');
    await mkdir(experimentsDir);
    const journal = path.join(workDir, 'journal');
    for (const name of ['exp1_first', 'exp2_second', 'exp3_third']) await writeScript(experimentsDir, name, journal);
    const taskQueue = uniqueQueue();
    worker = await spawnWorker(address, taskQueue, 2);
    const submit = await staged(['submit', '--dir', 'experiments', '--json', '--max-concurrent', '2'], {
      TEMPORAL_ADDRESS: address,
      STAGED_TASK_QUEUE: taskQueue,
    });
    expectSuccess(submit);
    const summary = JSON.parse(String(submit.stdout)) as BatchSummary;
    expect(summary.experiments.map(({ name, status }) => [name, status])).toEqual([
      ['exp1_first', 'completed'],
      ['exp2_second', 'completed'],
      ['exp3_third', 'completed'],
    ]);

    // The Web UI reads the same server: its API lists the batch's workflow.
    const query = encodeURIComponent(`StagedBatchId="${summary.batchId}" AND WorkflowType="batchWorkflow"`);
    const listed = await fetch(`http://127.0.0.1:${uiPort}/api/v1/namespaces/default/workflows?query=${query}`);
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain(summary.batchId);

    // The server serves its own Prometheus metrics (its last port): the batch's workflows completed there.
    const serverQueue = `taskqueue="${taskQueue.replaceAll('-', '_')}"`; // the server's label values use _
    const completedOnServer = async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${serverPorts(port).metrics}/metrics`)).text();
      return metrics
        .split('\n')
        .filter((line) => line.startsWith('workflow_success{') && line.includes(serverQueue))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    };
    await until(async () => (await completedOnServer()) >= 4, 30_000, 'three experiments and their batch counted');

    // The Temporal server SIGKILLed mid-batch and started again by `up`: PostgreSQL kept everything.
    const longDir = path.join(workDir, 'long');
    await mkdir(longDir);
    const longJournal = path.join(workDir, 'long-journal');
    const longNames = ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d', 'exp5_e', 'exp6_f'];
    for (const name of longNames) await writeScript(longDir, name, longJournal, { body: 'sleep 2' });
    const connection = { TEMPORAL_ADDRESS: address, STAGED_TASK_QUEUE: taskQueue };
    const batchId = `cluster-restart-${Date.now()}`;
    const detached = await staged(
      ['submit', '--dir', 'long', '--detach', '--batch-id', batchId, '--max-concurrent', '2'],
      connection,
    );
    expectSuccess(detached);
    const startsIn = async () => (await readJournal(longJournal)).filter((e) => e.event === 'start').length;
    await until(async () => (await startsIn()) >= 3, 60_000, 'the batch to be under way');
    const serverPid = runningPidOf(clusterFiles(workDir, 'server'))!;
    process.kill(-serverPid, 'SIGKILL');
    await until(() => !groupAlive(serverPid), 10_000, 'the server to die');
    expect(await serverAnswers(address, 500)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expectSuccess(await staged(['cluster', 'up', ...ports]));
    let finished: BatchSummary | undefined;
    await until(
      async () => {
        const read = await staged(['status', batchId, '--json'], connection);
        const parsed = read.exitCode === 0 ? (JSON.parse(String(read.stdout)) as Partial<BatchSummary>) : undefined;
        if (parsed?.experiments?.every((e) => ['completed', 'failed', 'cancelled'].includes(String(e.status)))) {
          finished = parsed as BatchSummary;
        }
        return finished !== undefined;
      },
      120_000,
      'the batch to finish after the restart',
    );
    expect(finished!.experiments.map((e) => [e.name, e.status, e.attempts])).toEqual(
      longNames.map((name) => [name, 'completed', 1]),
    );
    const longEntries = await readJournal(longJournal);
    expect(
      longEntries
        .filter((e) => e.event === 'start')
        .map((e) => e.name)
        .sort(),
    ).toEqual(longNames);
    expect(maxOverlap(longEntries)).toBeLessThanOrEqual(2);

    const status = await staged(['cluster', 'status']);
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain('running');
    expect(status.stdout).toContain(`frontend ${address}`);
    expect(status.stdout).toContain(`http://127.0.0.1:${uiPort}`);
    expect(status.stdout).toContain(`127.0.0.1:${postgresPort}, data ${path.join(clusterHome(workDir), 'postgres')}`);

    worker.kill('SIGTERM');
    await worker.exited();
    worker = undefined;
    const pids = SERVICES.map((service) => runningPidOf(clusterFiles(workDir, service)));
    expect(pids.every((pid) => pid !== undefined)).toBe(true);
    const down = await staged(['cluster', 'down']);
    expect(down.exitCode).toBe(0);
    expect(down.stdout).toContain('Stopped the Web UI, the Temporal server and PostgreSQL');
    expect(pids.filter((pid) => groupAlive(pid!))).toEqual([]);
    expect(await serverAnswers(address, 500)).toBe(false);
    for (const freed of [port, uiPort, postgresPort]) expect(await portFree(freed, '127.0.0.1')).toBe(true);
    const after = await staged(['cluster', 'status']);
    expect(after.exitCode).toBe(1);
    expect(after.stdout).toContain('stopped');
  },
  240_000,
);

test('cluster with an unknown action exits 2 and names the actions', async () => {
  workDir ||= await tempDir('cluster-usage');
  const result = await staged(['cluster', 'start']);
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain('unknown action "start": use up, down, status or prepare');
});

test('cluster up refuses a --port whose membership ports PostgreSQL cannot store, and starts nothing', async () => {
  workDir ||= await tempDir('cluster-usage');
  const result = await staged(['cluster', 'up', '--port', '40000']);
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain('--port 40000 is too high');
  expect(SERVICES.map((service) => runningPidOf(clusterFiles(workDir, service)))).toEqual([
    undefined,
    undefined,
    undefined,
  ]);
});
