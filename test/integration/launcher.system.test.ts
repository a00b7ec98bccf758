/**
 * The worker's keeper launcher (keeper/launcher.go) SIGKILLed between runs: the worker starts another for the next
 * run, and every experiment runs once. Real server, real worker process, real keepers; counted from the scripts' own
 * journal.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { batchSummary } from '../../src/batch-client/index.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { pidAlive, until, waitUntilDead, workerProcessesPerTest } from '../helpers/processes.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

/** The worker's live launcher: its child named staged-launcher; undefined while it has none. */
function launcherOf(workerPid: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(parent) === workerPid && state !== 'Z' && stat.includes('(staged-launcher)')) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

test('a launcher SIGKILLed between runs is replaced at the next run: every run starts, each once', async () => {
  const { dir, journal } = await tempExperimentsDir('launcher-killed');
  const names = ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d'];
  // Each run waits for its release: the launcher is killed while it runs, before the next one is launched.
  for (const name of names) {
    await writeScript(dir, name, journal, { body: `while [ ! -e "${dir}/_release_${name}" ]; do sleep 0.05; done` });
  }
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 1, maxRetries: 0 });
  const worker = await startWorkerProcess(server.env.address, taskQueue, 1);
  const handle = await startBatch(server.env, state);

  const killed: number[] = [];
  for (const [index, name] of names.entries()) {
    await until(
      async () => (await readJournal(journal)).filter((e) => e.event === 'start').length === index + 1,
      60_000,
      `run ${index + 1} to start`,
    );
    let launcher: number | undefined;
    await until(() => (launcher = launcherOf(worker.pid)) !== undefined, 10_000, "the worker's launcher");
    expect(killed).not.toContain(launcher); // a new one since the last kill
    process.kill(launcher!, 'SIGKILL');
    expect(await waitUntilDead([launcher!], 10_000)).toBeDefined();
    killed.push(launcher!);
    await writeFile(path.join(dir, `_release_${name}`), '');
  }
  const summary = await batchSummary(handle);

  expect(killed).toHaveLength(names.length);
  expect(summary.experiments.map((e) => [e.name, e.status, e.attempts])).toEqual(
    names.map((name) => [name, 'completed', 1]),
  );
  const starts = (await readJournal(journal)).filter((e) => e.event === 'start');
  expect(starts.map((e) => e.name).sort()).toEqual(names);
  expect(pidAlive(worker.pid)).toBe(true);
}, 180_000);
