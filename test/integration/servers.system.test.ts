/**
 * Runs belong to the server that started them: two dev servers on one machine (two projects), with
 * workers sharing the runs root and the queue's name, never stop or delete each other's runs, nor share
 * a run's cgroup when both batches have the same id; runs left in the layout of earlier versions are
 * adopted and never stopped on a server's "not found".
 */
import { randomUUID } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { batchSummary } from '../../src/batch-client/index.js';
import { cancelBatch } from '../../src/batch-client/batches.js';
import { RunFiles, type RunExit } from '../../src/keeper/run-files.js';
import { serverIdOf } from '../../src/machine/runs-layout.js';
import type { BatchSummary } from '../../src/model/types.js';
import {
  batchStateFor,
  startBatch,
  startTestServer,
  testSettings,
  uniqueQueue,
  type TestServer,
} from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript, type JournalEntry } from '../helpers/scripts.js';
import { pidAlive, until, workerProcessesPerTest, type WorkerProcess } from '../helpers/processes.js';
import { startKeptRun, stopKeptRuns, type KeptRun } from '../helpers/runs.js';

const servers: TestServer[] = [];
beforeAll(async () => {
  servers.push(...(await Promise.all([startTestServer(), startTestServer()])));
}, 120_000);
afterAll(async () => {
  await Promise.all(servers.map((server) => server.teardown()));
});
const startWorkerProcess = workerProcessesPerTest();

const startsOf = (entries: JournalEntry[]) => entries.filter((entry) => entry.event === 'start');

/** The lines a worker process prints from now on. */
function linesOf(worker: WorkerProcess): string[] {
  const lines: string[] = [];
  worker.subprocess.stdout.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  return lines;
}

/** Resolves with the summary, or fails after `ms` (a batch whose runs were killed may never end). */
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

test('two servers, one runs root, one queue name: both batches complete, each experiment started once', async () => {
  const runsRoot = await tempDir('runs-two-servers');
  const taskQueue = uniqueQueue();
  const projects = await Promise.all(
    servers.map(async (server, index) => {
      const { dir, journal } = await tempExperimentsDir(`server-${index}`);
      await writeScript(dir, 'exp1_a', journal, { body: 'sleep 20' });
      await writeScript(dir, 'exp2_b', journal, { body: 'sleep 20' });
      const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxConcurrent: 2, maxRetries: 0 });
      const worker = await startWorkerProcess(server.address, taskQueue, 2, ['--runs-dir', runsRoot]);
      const ownDir = path.join(runsRoot, `server-${await serverIdOf(server.nativeConnection, server.namespace)}`);
      return { server, journal, settings, ownDir: path.join(ownDir, taskQueue), lines: linesOf(worker) };
    }),
  );

  const handles = await Promise.all(
    projects.map(async ({ server, settings }) => startBatch(server, await batchStateFor(settings))),
  );
  for (const { journal } of projects) {
    await until(async () => startsOf(await readJournal(journal)).length === 2, 60_000, 'both runs to start');
  }
  const runDirs = await Promise.all(projects.map(({ ownDir }) => readdir(ownDir).catch(() => [])));
  const summaries = await Promise.allSettled(handles.map((handle) => summaryWithin(handle, 100_000)));

  for (const { journal, lines } of projects) {
    const starts = startsOf(await readJournal(journal));
    expect(starts.map((entry) => entry.name).sort()).toEqual(['exp1_a', 'exp2_b']);
    expect(lines.filter((line) => line.includes('stopping run'))).toEqual([]);
  }
  for (const summary of summaries) {
    if (summary.status === 'rejected') throw summary.reason;
    expect(summary.value.experiments.map(({ status, attempts }) => ({ status, attempts }))).toEqual([
      { status: 'completed', attempts: 1 },
      { status: 'completed', attempts: 1 },
    ]);
  }
  expect(runDirs.map((dirs) => dirs.length)).toEqual([2, 2]);
}, 150_000);

test("two servers, the same batch id: cancelling one batch stops its own run, not the other server's", async () => {
  const batchId = `nightly-${randomUUID()}`;
  const taskQueue = uniqueQueue();
  const projects = await Promise.all(
    servers.map(async (server, index) => {
      const { dir, journal } = await tempExperimentsDir(`same-batch-id-${index}`);
      const gate = path.join(dir, '_gate');
      await writeScript(dir, 'exp1_long', journal, { body: `while [ ! -e "${gate}" ]; do sleep 0.1; done` });
      const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxRetries: 0 });
      const runsRoot = await tempDir(`runs-same-batch-id-${index}`);
      await startWorkerProcess(server.address, taskQueue, 1, ['--runs-dir', runsRoot]);
      const serverDir = `server-${await serverIdOf(server.nativeConnection, server.namespace)}`;
      const handle = await startBatch(server, await batchStateFor(settings, batchId));
      return { server, journal, gate, handle, queueDir: path.join(runsRoot, serverDir, taskQueue) };
    }),
  );
  const scriptPids = await Promise.all(
    projects.map(async ({ journal }) => {
      await until(async () => startsOf(await readJournal(journal)).length === 1, 60_000, 'the run to start');
      return startsOf(await readJournal(journal))[0].pid;
    }),
  );
  const [cancelled, survivor] = projects;

  await cancelBatch(cancelled.server.client, batchId);
  const [runKey] = await readdir(cancelled.queueDir);
  const cancelledRun = new RunFiles(path.join(cancelled.queueDir, runKey));
  let cancelledExit: RunExit | undefined;
  await until(
    async () => (cancelledExit = await cancelledRun.readJson<RunExit>(cancelledRun.exit)) !== undefined,
    60_000,
    'the cancelled run to end',
  );

  expect(cancelledExit?.end).toBe('cancelled');
  expect(pidAlive(scriptPids[0])).toBe(false);
  expect(pidAlive(scriptPids[1])).toBe(true);
  await writeFile(survivor.gate, '');
  const summary = await summaryWithin(survivor.handle, 60_000);
  expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 1 });
  expect((await readJournal(survivor.journal)).map((entry) => entry.event)).toEqual(['start', 'end']);
}, 150_000);

test('runs of the old layout (<root>/<queue>/<run>) are adopted, and never stopped on "not found"', async () => {
  const [server] = servers;
  const serverDir = `server-${await serverIdOf(server.nativeConnection, server.namespace)}`;
  // A worker whose runs root is R writes R/server-<id>/<queue>/<run>: the old layout of the root R/server-<id>.
  const oldRoot = await tempDir('runs-old-layout');
  const newRoot = path.join(oldRoot, serverDir);
  const taskQueue = uniqueQueue();
  const legacyDir = path.join(newRoot, taskQueue);
  const { dir, journal } = await tempExperimentsDir('old-layout');
  await writeScript(dir, 'exp1_long', journal, { body: 'sleep 15' });
  const settings = testSettings({
    experimentsDir: dir,
    workDir: dir,
    taskQueue,
    maxRetries: 0,
    heartbeatTimeoutMs: 2_000,
    killGraceMs: 1_000,
  });
  const machine = ['--machine-id', 'upgraded', '--adopt-window', '60s'];
  let foreign: KeptRun | undefined;

  try {
    const old = await startWorkerProcess(server.address, taskQueue, 1, [...machine, '--runs-dir', oldRoot]);
    const handle = await startBatch(server, await batchStateFor(settings));
    await until(async () => startsOf(await readJournal(journal)).length === 1, 60_000, 'the run to start');
    old.kill('SIGKILL');
    // Another server's run in the same old directory (the old worker, of this build, would stop it as its own).
    foreign = await startKeptRun(legacyDir, `${encodeURIComponent('another-server/exp1')}.run-1`, 'sleep 300', {
      leaseTimeoutMs: 300_000,
    });
    const upgraded = await startWorkerProcess(server.address, taskQueue, 1, [...machine, '--runs-dir', newRoot]);
    const upgradedAt = Date.now();
    const lines = linesOf(upgraded);
    const summary = await summaryWithin(handle, 90_000);
    // At least one orphan check (every 10 s) has read the foreign run.
    await until(() => Date.now() - upgradedAt > 12_000, 30_000, 'an orphan check of the new worker');

    expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 1 });
    expect(startsOf(await readJournal(journal))).toHaveLength(1);
    expect(pidAlive(foreign.keeperPid)).toBe(true);
    expect(lines.filter((line) => line.includes('stopping run'))).toEqual([]);
  } finally {
    if (foreign) await stopKeptRuns([foreign]);
  }
}, 150_000);
