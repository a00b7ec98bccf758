/** A batch outlives its client and its server, and can be cancelled one experiment at a time. */
import {
  batchSummary,
  finalBatchState,
  queryBatchState,
  startBatch as startBatchWorkflow,
} from '../../src/batch-client/index.js';
import type { BatchState } from '../../src/model/types.js';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { batchIn, startBatch, uniqueQueue, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { ownServer, ownServerDbFile, withStartedServer } from '../helpers/own-server.js';
import {
  CLI,
  GONE_WITHIN_MS,
  LOAD_MARGIN_MS,
  until,
  waitUntilDead,
  workerProcessesPerTest,
} from '../helpers/processes.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

const worker = startWorkerProcess;

function staged(args: string[], cliEnv: Record<string, string>) {
  return execa(process.execPath, [CLI, ...args], {
    env: { TEMPORAL_ADDRESS: server.env.address, ...cliEnv },
    reject: false,
  });
}

test(
  'a killed client loses nothing: the batch runs on, watch re-attaches to live progress, status works ' + 'anywhere',
  async () => {
    const { dir, journal } = await tempExperimentsDir('client-kill');
    // Long enough that the batch still runs once status and watch have started, on a loaded machine too.
    for (const name of ['exp1_a', 'exp2_b', 'exp3_c']) await writeScript(dir, name, journal, { body: 'sleep 4' });
    const taskQueue = uniqueQueue();
    await worker(server.env.address, taskQueue, 3);
    const batchId = `client-kill-${Date.now()}`;
    const cliEnv = { STAGED_TASK_QUEUE: taskQueue };

    const submit = execa(
      process.execPath,
      [CLI, 'submit', '--dir', dir, '--max-concurrent', '1', '--batch-id', batchId],
      {
        cwd: dir,
        env: { TEMPORAL_ADDRESS: server.env.address, ...cliEnv },
        reject: false,
        buffer: false,
      },
    );
    let printed = '';
    submit.stdout.on('data', (chunk) => (printed += chunk));
    await until(() => printed.includes('[START] exp1_a'), 60_000, 'the first start');
    submit.kill('SIGKILL');
    await submit;

    const status = await staged(['status', batchId, '--json'], {});
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(String(status.stdout)).status).toBe('running');
    const watch = await staged(['watch', batchId, '--status-interval', '1s'], {});

    expect(watch.exitCode).toBe(0);
    expect(String(watch.stdout)).toContain('[STATUS] Queue:');
    expect(String(watch.stdout)).toMatch(/\[DONE\] exp3_c/);
    expect(String(watch.stdout)).toContain(`SUMMARY ${batchId}: 3 completed, 0 failed, 0 cancelled`);
    expect((await readJournal(journal)).filter((e) => e.event === 'end')).toHaveLength(3);
  },
  120_000,
);

test(
  'cancel --experiment stops a running experiment, keeps a queued one from ever starting, and the rest ' + 'completes',
  async () => {
    const { dir, journal } = await tempExperimentsDir('cancel-one');
    const pidFile = path.join(dir, '_pid');
    await writeScript(dir, 'exp1_long', journal, { body: `sleep 300 & echo "$$ $!" > "${pidFile}"; wait` });
    await writeScript(dir, 'exp2_skipped', journal);
    await writeScript(dir, 'exp3_fine', journal);
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 1, killGraceMs: 1_000 });
    await worker(server.env.address, taskQueue, 1);
    const handle = await startBatch(server.env, state);
    const journalHas = async (name: string) => (await readJournal(journal)).some((e) => e.name === name);
    await until(() => journalHas('exp1_long'), 60_000, 'exp1_long to start');

    // First, while the batch surely runs: once the two are cancelled, exp3_fine may end it before a later cancel.
    const unknown = await staged(['cancel', state.batchId, '--experiment', 'exp9'], {});
    const skipped = await staged(['cancel', state.batchId, '--experiment', 'exp2'], {});
    const stopped = await staged(['cancel', state.batchId, '--experiment', 'exp1_long'], {});
    const summary = await batchSummary(handle);

    expect([skipped.exitCode, stopped.exitCode, unknown.exitCode]).toEqual([0, 0, 2]);
    expect(unknown.stderr).toContain(`batch "${state.batchId}" has no experiment "exp9"`);
    expect(summary.experiments.map((e) => [e.name, e.status])).toEqual([
      ['exp1_long', 'cancelled'],
      ['exp2_skipped', 'cancelled'],
      ['exp3_fine', 'completed'],
    ]);
    expect(await journalHas('exp2_skipped')).toBe(false);
    const pids = (await readFile(pidFile, 'utf8')).trim().split(' ').map(Number);
    expect(await waitUntilDead(pids, GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  },
  120_000,
);

/** SQLite's header: file format write and read versions (bytes 18 and 19) are 2 in WAL mode, 1 in rollback mode. */
async function sqliteFormatVersions(dbFile: string): Promise<number[]> {
  const header = await readFile(dbFile);
  return [header[18], header[19]];
}

test(
  'a server killed with SIGKILL mid-batch, completions just acknowledged, restarted on the same DB file (WAL): ' +
    'every acknowledged record kept, the batch completes, each experiment exactly once',
  async () => {
    const { dir, journal } = await tempExperimentsDir('server-kill');
    const names = Array.from({ length: 40 }, (_, i) => `exp${String(i + 1).padStart(2, '0')}_short`);
    for (const name of names) await writeScript(dir, name, journal, { body: 'sleep 0.1' });
    const devServer = await ownServer(dir);
    const dbFile = ownServerDbFile(dir);
    const { taskQueue, state } = await batchIn(dir, {
      maxConcurrent: 8,
      heartbeatTimeoutMs: 2_000,
      killGraceMs: 1_000,
    });
    await withStartedServer(devServer, async (client) => {
      await worker(devServer.address, taskQueue, 8);
      const handle = await startBatchWorkflow(client, state);
      // Completions stream in: the batch's own record (its query, answered from the history the server
      // acknowledged) says which ones the server holds. Kill it as soon as it holds 10, with runs in flight.
      let acknowledged: BatchState | undefined;
      await until(
        async () => {
          const live = await queryBatchState(handle);
          const completed = live.records.filter((r) => r.status === 'completed').length;
          if (completed < 10) return false;
          const started = (await readJournal(journal)).filter((e) => e.event === 'start').length;
          if (started <= completed) return false; // between runs: on a busy machine, look again
          acknowledged = live;
          return true;
        },
        60_000,
        '10 completions acknowledged, with runs in flight',
      );
      await devServer.kill();
      const inFlight = (await readJournal(journal)).filter((e) => e.event === 'start').length;
      expect(existsSync(`${dbFile}-wal`)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await devServer.start();
      const final = await finalBatchState(handle);

      // What the server had acknowledged before the kill is what it has after: nothing redone.
      acknowledged!.records.forEach((record, index) => {
        if (record.status === 'completed') expect(final.records[index]).toEqual(record);
      });
      expect(final.records.map((r) => [r.status, r.attempts])).toEqual(names.map(() => ['completed', 1]));
      const entries = await readJournal(journal);
      const once = (event: string) =>
        entries
          .filter((e) => e.event === event)
          .map((e) => e.name)
          .sort();
      expect(once('start')).toEqual(names);
      expect(once('end')).toEqual(names);
      // Runs were in flight when it died: not the trivial case of a server killed between experiments.
      expect(inFlight).toBeGreaterThan(acknowledged!.records.filter((r) => r.status === 'completed').length);
    });
    // The server kept its file in WAL mode (devServerArgs' journal_mode), checked from the file itself.
    expect(await sqliteFormatVersions(dbFile)).toEqual([2, 2]);
  },
  120_000,
);

test('a worker started before its server waits for it, then runs a batch', async () => {
  const { dir, journal } = await tempExperimentsDir('worker-first');
  await writeScript(dir, 'exp1_a', journal);
  const devServer = await ownServer(dir);
  const { taskQueue, state } = await batchIn(dir);
  const waiting = worker(devServer.address, taskQueue, 1);
  waiting.catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 3_000));

  await withStartedServer(devServer, async (client) => {
    const ready = await waiting;
    const handle = await startBatchWorkflow(client, state);
    expect((await batchSummary(handle)).experiments[0].status).toBe('completed');
    expect(ready.pid).toBeGreaterThan(0);
  });
}, 120_000);
