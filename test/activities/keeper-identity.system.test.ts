/**
 * A worker recognises a keeper by what the keeper recorded in its run's directory, not by where staged is
 * installed: a worker from another directory (a new clone, a new version) adopts the runs of the old one,
 * those of keepers that recorded who they are and those of keepers from before that record existed.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { batchSummary } from '../../src/batch-client/index.js';
import type { RunStarted } from '../../src/keeper/run-files.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { installCopy, until, workerProcessesPerTest } from '../helpers/processes.js';
import { runDirsUnder } from '../helpers/runs.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

test(
  'runs started by a worker installed elsewhere are adopted by this one after it is SIGKILLed: one start each, ' +
    'attempts 1',
  async () => {
    const copy = await installCopy();
    const { dir, journal } = await tempExperimentsDir('keeper-identity');
    // Each runs until the test releases it, once its run has been adopted (or started again).
    const untilReleased = `i=0; while [ ! -e "${dir}/_release" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done`;
    await writeScript(dir, 'exp1_recorded', journal, { body: untilReleased });
    await writeScript(dir, 'exp2_legacy', journal, { body: untilReleased });
    const { taskQueue, state } = await batchIn(dir, {
      heartbeatTimeoutMs: 2_000,
      killGraceMs: 1_000,
      maxConcurrent: 2,
      maxRetries: 0,
    });
    const runsDir = await tempDir('runs-keeper-identity');
    const args = ['--runs-dir', runsDir, '--adopt-window', '60s', '--machine-id', 'upgraded'];
    const old = await startWorkerProcess(server.env.address, taskQueue, 2, args, { script: copy.workerScript });
    const handle = await startBatch(server.env, state);
    let started: { dir: string; state: RunStarted }[] = [];
    await until(
      async () => {
        const runs = await runDirsUnder(runsDir);
        const states = await Promise.all(runs.map((files) => files.readJson<RunStarted>(files.state)));
        started = runs.flatMap((files, i) => (states[i] ? [{ dir: files.dir, state: states[i] }] : []));
        return started.length === 2;
      },
      60_000,
      'both runs to start',
    );
    for (const { state: run } of started) {
      expect(readFileSync(`/proc/${run.keeperPid}/cmdline`, 'utf8')).toContain(copy.keeperBinary);
    }
    // As a keeper of staged before 2026-12 wrote it: no record of who it is.
    const legacy = started.find((run) => run.dir.includes('exp2_legacy'))!;
    const withoutIdentity: RunStarted = { ...legacy.state };
    delete withoutIdentity.keeper;
    await writeFile(path.join(legacy.dir, 'state.json'), JSON.stringify(withoutIdentity));

    old.kill('SIGKILL');
    await old.exited();
    const restartedAt = Date.now();
    await startWorkerProcess(server.env.address, taskQueue, 2, args);
    const runs = await runDirsUnder(runsDir);
    await until(
      async () => {
        const renewed = await Promise.all(runs.map((files) => files.leaseRenewedAt()));
        const restarts = (await readJournal(journal)).filter((e) => e.event === 'start' && e.attempt > 1);
        return restarts.length > 0 || renewed.every((at) => at !== undefined && at > restartedAt);
      },
      60_000,
      'the new worker to adopt the runs or start them again',
    );
    await writeFile(path.join(dir, '_release'), '');
    const summary = await batchSummary(handle);

    expect(summary.experiments.map((e) => [e.name, e.status, e.attempts])).toEqual([
      ['exp1_recorded', 'completed', 1],
      ['exp2_legacy', 'completed', 1],
    ]);
    const starts = (await readJournal(journal)).filter((e) => e.event === 'start');
    expect(starts.map((e) => e.name).sort()).toEqual(['exp1_recorded', 'exp2_legacy']);
  },
  150_000,
);
