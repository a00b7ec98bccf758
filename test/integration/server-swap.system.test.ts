/**
 * Another server at the worker's address: project A's dev server stopped (`staged down` in A) while a batch of
 * project B ran on it, and B's next command started a dev server of B's own on the same port. The worker, still
 * connected, must not take that server's "not found" for a verdict on runs of the first server: their runs go
 * on, the worker stops (exit 1, its runs left under their keepers), and once their server is back a worker
 * adopts them. Nor may it start a run of the other server before it notices (its runs directory is not that
 * server's: a worker of that server would find the run gone and start it again while it runs). Measured from the
 * scripts' own journal and pids.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { batchSummary, startBatch } from '../../src/batch-client/index.js';
import { devServerProcess } from '../../src/server/dev-server-process.js';
import { ownServer, withStartedServer } from '../helpers/own-server.js';
import { batchIn } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript, type JournalEntry } from '../helpers/scripts.js';
import { pidAlive, until, workerProcessesPerTest, type WorkerProcess } from '../helpers/processes.js';

const startWorkerProcess = workerProcessesPerTest();
/** Past one orphan check (every 10 s, orphans.ts), with room for a loaded machine. */
const ORPHAN_CHECK_MS = 25_000;

/**
 * A batch of one script printing a line a second for `seconds`, its server (not started yet), the other project's
 * server on the same port with its own database (another namespace id), and the worker's arguments.
 */
async function swapSetup(name: string, seconds: number) {
  const { dir, journal } = await tempExperimentsDir(name);
  await writeScript(dir, 'exp1_long', journal, {
    body: `i=0; while [ $i -lt ${seconds} ]; do echo "line $i"; sleep 1; i=$((i+1)); done`,
  });
  const first = await ownServer(dir);
  const otherDir = await tempDir(`${name}-other`);
  await mkdir(path.join(otherDir, 'db'), { recursive: true });
  const other = await devServerProcess({
    port: Number(first.address.split(':').pop()),
    dbFile: path.join(otherDir, 'db', 'temporal.db'),
  });
  const workerArgs = ['--machine-id', name, '--runs-dir', await tempDir(`runs-${name}`), '--adopt-window', '90s'];
  const { taskQueue, state } = await batchIn(dir, { heartbeatTimeoutMs: 2_000, killGraceMs: 1_000, maxRetries: 0 });
  return { journal, first, other, workerArgs, taskQueue, state };
}

/** The lines a worker process prints from now on. */
function linesOf(worker: WorkerProcess): string[] {
  const lines: string[] = [];
  worker.subprocess.stdout.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  return lines;
}

test(
  "another server at the worker's address: its runs are not stopped on that server's word, the worker stops, " +
    'and a worker of their server adopts them: one start, attempts 1',
  async () => {
    const { journal, first, other, workerArgs, taskQueue, state } = await swapSetup('swap', 40);

    await withStartedServer(first, async (client) => {
      const worker = await startWorkerProcess(first.address, taskQueue, 1, workerArgs);
      const lines = linesOf(worker);
      let exitCode: number | undefined | null = null;
      void worker.exited().then((code) => (exitCode = code));
      const handle = await startBatch(client, state);
      await until(async () => (await readJournal(journal)).length === 1, 60_000, 'the run to start');
      const [{ pid }] = await readJournal(journal);

      await first.kill();
      await other.start();
      try {
        const swappedAt = Date.now();
        await until(
          () => exitCode !== null || !pidAlive(pid) || Date.now() - swappedAt > ORPHAN_CHECK_MS,
          ORPHAN_CHECK_MS + 5_000,
          'the worker to stop, or the run to be stopped',
        );
        expect(lines.filter((line) => line.includes('stopping run'))).toEqual([]);
        expect(pidAlive(pid)).toBe(true);
        expect(exitCode).toBe(1);
      } finally {
        await other.kill();
      }

      await first.start();
      await startWorkerProcess(first.address, taskQueue, 1, workerArgs);
      const summary = await batchSummary(handle);
      expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 1, exitCode: 0 });
      expect((await readJournal(journal)).map((entry) => [entry.event, entry.pid])).toEqual([
        ['start', pid],
        ['end', pid],
      ]);
    });
  },
  180_000,
);

test(
  'a batch of the other server submitted before the worker notices it: the worker starts none of its runs, a ' +
    'worker of that server runs it, never two copies at once',
  async () => {
    const { journal, first, other, workerArgs, taskQueue, state } = await swapSetup('race', 20);
    await first.start();
    const old = await startWorkerProcess(first.address, taskQueue, 1, workerArgs);
    let oldExit: number | undefined | null = null;
    void old.exited().then((code) => (oldExit = code));
    await first.kill();
    await other.start();
    const connection = await Connection.connect({ address: other.address });
    const alive: string[] = []; // every moment two copies of the script were alive
    const sampler = setInterval(() => {
      void readJournal(journal).then((entries: JournalEntry[]) => {
        const live = entries.filter((entry) => entry.event === 'start' && pidAlive(entry.pid));
        if (live.length > 1) alive.push(live.map((entry) => `${entry.pid}/attempt ${entry.attempt}`).join(' + '));
      });
    }, 200);
    try {
      // At once, before the worker's next orphan check: the other project's next `submit`.
      const handle = await startBatch(new Client({ connection }), state);
      await until(() => oldExit !== null, 30_000, 'the worker to stop');
      await startWorkerProcess(other.address, taskQueue, 1, workerArgs); // what that `submit` starts then
      const summary = await batchSummary(handle);

      expect(alive).toEqual([]);
      expect(oldExit).toBe(1);
      expect(summary.experiments[0]).toMatchObject({ status: 'completed', exitCode: 0 });
      expect((await readJournal(journal)).map((entry) => entry.event)).toEqual(['start', 'end']);
    } finally {
      clearInterval(sampler);
      await connection.close();
      await other.kill();
    }
  },
  180_000,
);
