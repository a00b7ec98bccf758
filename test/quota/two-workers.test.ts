/**
 * Two workers on one machine (one runs directory, one queue): each serves its own runs on its own socket. Stopping
 * one neither cuts the other's runs off from their agent nor hands it their counting; its runs are adopted.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { batchSummary, findBatch, queryBatchState, runningProgress } from '../../src/batch-client/index.js';
import { spawnWorker, until, type WorkerProcess } from '../helpers/processes.js';
import { writeQuotaConfig } from '../helpers/quota-experiments.js';
import { RateLimitedApi } from '../helpers/rate-limited-api.js';
import { tempDir } from '../helpers/scripts.js';
import { uniqueQueue, useTestServer } from '../helpers/temporal.js';

const CLI = fileURLToPath(new URL('../../src/client.js', import.meta.url));
const server = useTestServer();

/** Two experiments that call the API every 50 ms (the path names the experiment) until `stopFile` exists. */
async function callingExperiments(dir: string, port: number, names: string[], stopFile: string): Promise<void> {
  await writeQuotaConfig(dir, { fakeapi: { limit: '1000/1s', hosts: [`127.0.0.1:${port}`] } });
  for (const name of names) {
    const source = [
      '"""Calls the API until told to stop.',
      '',
      'Quota: fakeapi',
      '"""',
      'import os, time, urllib.request',
      'calls = 0',
      `while not os.path.exists(${JSON.stringify(stopFile)}):`,
      `    urllib.request.urlopen("http://127.0.0.1:${port}/${name}?call=%d" % calls).read()`,
      '    calls += 1',
      '    time.sleep(0.05)',
      'print("calls", calls)',
      '',
    ].join('\n');
    await writeFile(path.join(dir, `${name}.py`), source);
  }
}

async function submit(dir: string, taskQueue: string) {
  const submitted = await execa(process.execPath, [CLI, 'submit', '--dir', '.', '--detach', '--json'], {
    cwd: dir,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
  });
  const { batchId } = JSON.parse(String(submitted.stdout)) as { batchId: string };
  return (await findBatch(server.env.client, batchId))!.handle;
}

test('two workers on one machine: stopping one leaves the other’s runs calling, each counts its own', async () => {
  const api = new RateLimitedApi({ limit: 10_000, windowMs: 1_000 });
  const { port } = await api.start();
  const taskQueue = uniqueQueue();
  const args = ['--runs-dir', await tempDir('quota-pair-runs'), '--machine-id', 'pair'];
  const stopFile = path.join(await tempDir('quota-pair-stop'), 'stop');
  const workers: WorkerProcess[] = [];
  const callsOf = (name: string) => api.requests().filter((request) => request.path.startsWith(`/${name}?`));
  try {
    const [firstDir, secondDir] = [await tempDir('quota-pair-first'), await tempDir('quota-pair-second')];
    await callingExperiments(firstDir, port, ['first1', 'first2'], stopFile);
    await callingExperiments(secondDir, port, ['second1', 'second2'], stopFile);
    // The first worker's two slots hold the first batch; the second worker, started after, runs the second.
    workers.push(await spawnWorker(server.env.address, taskQueue, 2, args));
    const first = await submit(firstDir, taskQueue);
    await until(() => callsOf('first1').length > 0 && callsOf('first2').length > 0, 60_000, 'the first runs');
    workers.push(await spawnWorker(server.env.address, taskQueue, 4, args));
    const second = await submit(secondDir, taskQueue);
    await until(() => callsOf('second1').length > 0 && callsOf('second2').length > 0, 60_000, 'the second runs');

    // Each worker counts the calls of the runs it holds: the first batch's heartbeats show them.
    const firstCounted = async () => {
      const progress = await runningProgress(server.env.client.workflow, await queryBatchState(first));
      return progress.size === 2 && [...progress.values()].every((run) => (run.calls?.fakeapi ?? 0) > 0);
    };
    await until(firstCounted, 20_000, 'the first worker to count its runs’ calls');

    workers[0].kill('SIGTERM');
    await workers[0].exited();
    const stoppedAt = Date.now();
    const calledSince = (name: string) => callsOf(name).some((request) => request.at > stoppedAt);
    await until(() => calledSince('second1') && calledSince('second2'), 30_000, 'the second runs to call again');
    const resumeMs = Math.max(
      ...['second1', 'second2'].map((name) => callsOf(name).find((request) => request.at > stoppedAt)!.at - stoppedAt),
    );
    // The first worker's runs are adopted by the second, and call again through it.
    await until(() => calledSince('first1') && calledSince('first2'), 60_000, 'the adopted runs to call again');
    const adoptedMs = Math.max(
      ...['first1', 'first2'].map((name) => callsOf(name).find((request) => request.at > stoppedAt)!.at - stoppedAt),
    );
    console.log(
      `[figure] one of two workers stopped: its neighbour's runs called again within ${resumeMs} ms, ` +
        `its own (adopted) runs within ${adoptedMs} ms`,
    );

    await writeFile(stopFile, '');
    const [firstSummary, secondSummary] = [await batchSummary(first), await batchSummary(second)];
    expect(firstSummary.experiments.map((experiment) => experiment.status)).toEqual(['completed', 'completed']);
    expect(firstSummary.experiments.map((experiment) => experiment.attempts)).toEqual([1, 1]);
    // The second worker held its runs throughout: their calls are all counted, by it alone.
    expect(secondSummary.experiments.map((experiment) => [experiment.name, experiment.calls])).toEqual([
      ['second1', { fakeapi: callsOf('second1').length }],
      ['second2', { fakeapi: callsOf('second2').length }],
    ]);
  } finally {
    await writeFile(stopFile, '').catch(() => undefined);
    for (const worker of workers) worker.kill('SIGKILL');
    await api.stop();
  }
}, 180_000);
