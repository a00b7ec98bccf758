/**
 * A SIGTERM to a keeper is decided from what its worker wrote: nobody's (`kill <keeper pid>`) is a failed
 * attempt, retried, and the batch ends; one sent to the worker and its keepers at once (`systemctl stop`
 * with KillMode=control-group, a logout) leaves the run to be adopted. Measured from the scripts' journal.
 */
import { readFile } from 'node:fs/promises';
import { batchSummary } from '../../src/batch-client/index.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript, type JournalEntry } from '../helpers/scripts.js';
import { pidAlive, until, workerProcessesPerTest } from '../helpers/processes.js';
import { keeperOfOnlyRun } from '../helpers/runs.js';
import { requestStop } from '../../src/machine/stop-run.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

const starts = (entries: JournalEntry[]) => entries.filter((e) => e.event === 'start');
const QUICK_LOSS = { heartbeatTimeoutMs: 2_000, killGraceMs: 1_000 };
/** Well past what the fixed code needs (about 10 s); the code before it never ended the batch. */
const BATCH_END_BOUND_MS = 60_000;

function endsWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

test('kill <keeper pid>: a failed attempt with its reason, retried under --max-retries; the batch ends', async () => {
  const { dir, journal } = await tempExperimentsDir('sigterm-keeper');
  await writeScript(dir, 'exp1_killed', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ] || sleep 120' });
  const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxRetries: 1 });
  const runsDir = await tempDir('runs-sigterm-keeper');
  await startWorkerProcess(server.env.address, taskQueue, 1, ['--runs-dir', runsDir, '--adopt-window', '60s']);
  const handle = await startBatch(server.env, state);
  const { files, started } = await keeperOfOnlyRun(runsDir);
  await until(async () => starts(await readJournal(journal)).length === 1, 30_000, 'the script to start');

  process.kill(started.keeperPid, 'SIGTERM');
  const killedAt = Date.now();
  // Read while the run's directory is there: a worker removes it once the experiment has closed.
  const explained = until(
    async () => /no worker asked for a stop/.test(await readFile(files.keeperLog, 'utf8').catch(() => '')),
    BATCH_END_BOUND_MS,
    'the keeper to say why it stopped the run',
  );
  explained.catch(() => undefined); // awaited below, once the batch has ended
  const summary = await endsWithin(batchSummary(handle), BATCH_END_BOUND_MS, 'the end of the batch');
  const endedAfterMs = Date.now() - killedAt;

  expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 2 });
  expect(starts(await readJournal(journal)).map((e) => e.attempt)).toEqual([1, 2]);
  await explained;
  console.log(`[figure] kill <keeper>: failed attempt, retried, batch ended ${endedAfterMs} ms after the kill`);
}, 120_000);

test('worker and keeper SIGTERMed at once (systemctl stop): the run goes on and is adopted, one start', async () => {
  const { dir, journal } = await tempExperimentsDir('sigterm-both');
  await writeScript(dir, 'exp1_service', journal, { body: 'sleep 8' });
  const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxRetries: 0 });
  const runsDir = await tempDir('runs-sigterm-both');
  const args = ['--runs-dir', runsDir, '--adopt-window', '60s', '--machine-id', 'svc'];
  const stopped = await startWorkerProcess(server.env.address, taskQueue, 1, args);
  const handle = await startBatch(server.env, state);
  const { files, started } = await keeperOfOnlyRun(runsDir);
  await until(async () => starts(await readJournal(journal)).length === 1, 30_000, 'the script to start');

  stopped.kill('SIGTERM');
  process.kill(started.keeperPid, 'SIGTERM');
  expect(await stopped.exited()).toBe(0);
  await until(
    async () => (await readFile(files.keeperLog, 'utf8').catch(() => '')).includes('SIGTERM ignored'),
    15_000,
    'the keeper to decide about its SIGTERM',
  );
  expect(pidAlive(started.keeperPid)).toBe(true);
  await startWorkerProcess(server.env.address, taskQueue, 1, args);
  const summary = await endsWithin(batchSummary(handle), BATCH_END_BOUND_MS, 'the end of the batch');

  expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 1, exitCode: 0 });
  expect(starts(await readJournal(journal))).toHaveLength(1);
}, 120_000);

test(
  "an end record that says 'cancelled' while the experiment is not (a keeper of staged before 2026-12 sent a " +
    'bare SIGTERM): read by the adopting activity, it is a failed attempt, retried, never a loop',
  async () => {
    const { dir, journal } = await tempExperimentsDir('sigterm-stale');
    await writeScript(dir, 'exp1_stale', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ] || sleep 120' });
    const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxRetries: 1 });
    const runsDir = await tempDir('runs-sigterm-stale');
    const args = ['--runs-dir', runsDir, '--adopt-window', '60s', '--machine-id', 'stale'];
    const first = await startWorkerProcess(server.env.address, taskQueue, 1, args);
    const handle = await startBatch(server.env, state);
    const { files, started } = await keeperOfOnlyRun(runsDir);
    await until(async () => starts(await readJournal(journal)).length === 1, 30_000, 'the script to start');

    first.kill('SIGKILL');
    await first.exited();
    await requestStop(files, started.keeperPid, 'cancelled'); // the end record a keeper of before wrote
    await until(async () => (await files.readJson(files.exit)) !== undefined, 30_000, 'the keeper to end the run');
    await startWorkerProcess(server.env.address, taskQueue, 1, args);
    const summary = await endsWithin(batchSummary(handle), BATCH_END_BOUND_MS, 'the end of the batch');

    expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 2 });
    expect(starts(await readJournal(journal)).map((e) => e.attempt)).toEqual([1, 2]);
  },
  120_000,
);
