/**
 * The double-copy hazard of counting a lease in awake time: a machine that slept through the server's
 * adoption deadline wakes with run N still kept (its lease young in awake time) while the workflow has
 * started run N + 1 elsewhere. A worker restarting on that machine stops N. The keeper's view of a sleep is
 * stood in for by the test renewing N's lease while no worker holds it (keeper-sleep.system.test.ts shows a real
 * keeper counting awake time); everything else is real: server, workers, keepers, scripts.
 */
import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { batchSummary } from '../../src/batch-client/index.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { journalLine, readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { pidAlive, until, waitUntilDead, workerProcessesPerTest } from '../helpers/processes.js';
import { guardOf, keeperOfOnlyRun } from '../helpers/runs.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

test('a run whose experiment moved on while its machine slept is stopped by a worker restarted there', async () => {
  const { dir, journal } = await tempExperimentsDir('superseded');
  const release = path.join(dir, '_release');
  await writeScript(dir, 'exp1_slept', journal, {
    body: [
      `trap '${journalLine(journal, 'stopped').replace(/'/g, `'"'"'`)}; exit 143' TERM`,
      `i=0; while [ ! -e "${release}" ] && [ $i -lt 1800 ]; do sleep 0.1; i=$((i+1)); done`,
    ].join('\n'),
  });
  const { taskQueue, state } = await batchIn(dir, {
    heartbeatTimeoutMs: 2_000,
    killGraceMs: 1_000,
    maxRetries: 0,
    timeoutMs: null,
  });
  const runsA = ['--runs-dir', await tempDir('runs-superseded-a'), '--machine-id', 'a', '--adopt-window', '4s'];
  const first = await startWorkerProcess(server.env.address, taskQueue, 1, runsA);
  const handle = await startBatch(server.env, state);
  const { files } = await keeperOfOnlyRun(runsA[1]);
  await until(async () => (await readJournal(journal)).length === 1, 30_000, 'run 1 to start');
  const [runN] = await readJournal(journal);

  first.kill('SIGKILL');
  const renewing = setInterval(() => void files.renewLease(Date.now()).catch(() => undefined), 500);
  try {
    await startWorkerProcess(server.env.address, taskQueue, 1, ['--runs-dir', await tempDir('runs-superseded-b')]);
    await until(
      async () => (await readJournal(journal)).some((e) => e.event === 'start' && e.attempt === 2),
      60_000,
      'the server to give run 1 up and start run 2 elsewhere',
    );
    expect(pidAlive(runN.pid)).toBe(true); // two copies: the hazard

    const restartedAt = Date.now();
    await startWorkerProcess(server.env.address, taskQueue, 1, runsA);
    const stoppedAfter = await waitUntilDead([runN.pid], 40_000);
    expect(stoppedAfter).toBeDefined();
    expect((await readJournal(journal)).filter((e) => e.event === 'stopped').map((e) => e.attempt)).toEqual([1]);
    console.log(
      `[figure] superseded run 1 stopped ${Date.now() - restartedAt} ms after a worker restarted on its machine`,
    );
  } finally {
    clearInterval(renewing);
  }
  await writeFile(release, '');
  expect((await batchSummary(handle)).experiments[0]).toMatchObject({ status: 'completed', attempts: 2 });
}, 150_000);

test('a run whose keeper and guard died is stopped, its directory removed, once its experiment is over', async () => {
  const { dir, journal } = await tempExperimentsDir('keeperless');
  const release = path.join(dir, '_release');
  await writeScript(dir, 'exp1_keeperless', journal, {
    body: `i=0; while [ ! -e "${release}" ] && [ $i -lt 1800 ]; do sleep 0.1; i=$((i+1)); done`,
  });
  const { taskQueue, state } = await batchIn(dir, { heartbeatTimeoutMs: 2_000, killGraceMs: 1_000, maxRetries: 0 });
  const runs = ['--runs-dir', await tempDir('runs-keeperless'), '--machine-id', 'k', '--adopt-window', '60s'];
  const first = await startWorkerProcess(server.env.address, taskQueue, 1, runs);
  const handle = await startBatch(server.env, state);
  const { files, started } = await keeperOfOnlyRun(runs[1]);
  await until(async () => (await readJournal(journal)).length === 1, 30_000, 'the run to start');
  const [run] = await readJournal(journal);

  first.kill('SIGKILL');
  // Its guard first (a keeper of before guards has none): else it stops the run at once (keeper-guard.system); the
  // keeper starts no new one within 250 ms.
  const guard = guardOf(started.keeperPid);
  if (guard !== undefined) process.kill(guard, 'SIGKILL');
  process.kill(started.keeperPid, 'SIGKILL');
  await handle.client.getHandle(`${handle.workflowId}/exp1_keeperless`).terminate('the test ends it');
  await handle.terminate('the test ends it');
  expect(pidAlive(run.pid)).toBe(true); // nobody keeps it now

  try {
    await startWorkerProcess(server.env.address, taskQueue, 1, runs);
    expect(await waitUntilDead([run.pid], 40_000)).toBeDefined();
    await until(async () => !(await pathExists(files.dir)), 30_000, 'the run directory to be removed');
  } finally {
    await writeFile(release, '');
  }
}, 120_000);

const pathExists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );
