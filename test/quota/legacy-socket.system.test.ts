/**
 * Upgrading in place beside a run started by an older staged: that run asks the shared socket path every worker of the
 * runs directory used to bind, and has no link. The new worker serves it there once it adopts (or tends) it.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { batchSummary, findBatch } from '../../src/batch-client/index.js';
import type { RunSpec } from '../../src/keeper/run-files.js';
import { legacyQuotaSocketPath, quotaDirOf, runSocketPath } from '../../src/quota/run-environment.js';
import { spawnWorker, until, type WorkerProcess } from '../helpers/processes.js';
import { writeQuotaConfig } from '../helpers/quota-experiments.js';
import { tempDir } from '../helpers/scripts.js';
import { uniqueQueue, useTestServer } from '../helpers/temporal.js';

const CLI = fileURLToPath(new URL('../../src/client.js', import.meta.url));
const server = useTestServer();

test('a run started before per-worker sockets is served on the legacy path by the worker that adopts it', async () => {
  const taskQueue = uniqueQueue();
  const runsRoot = await tempDir('quota-legacy-runs');
  const queueDir = encodeURIComponent(taskQueue);
  const legacy = legacyQuotaSocketPath(path.join(runsRoot, queueDir));
  // Runs are kept per server now (runs-layout.ts): server-<id>/<queue>.
  const ownRunsDir = async () => {
    const serverDir = (await readdir(runsRoot).catch(() => [])).find((name) => name.startsWith('server-'));
    return serverDir ? path.join(runsRoot, serverDir, queueDir) : undefined;
  };
  const dir = await tempDir('quota-legacy');
  const granted = path.join(dir, 'granted');
  const stopFile = path.join(dir, 'stop');
  await writeQuotaConfig(dir, { fakeapi: { limit: '100/1s', hosts: ['api.example'] } });
  // As an older staged set it up: the run asks the shared path.
  const script = [
    '#!/bin/sh',
    '# Quota: fakeapi',
    `while [ ! -f "${stopFile}" ]; do`,
    `  STAGED_QUOTA_SOCKET="${legacy}" staged-quota acquire fakeapi && echo granted >>"${granted}"`,
    '  sleep 0.1',
    'done',
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'exp1_legacy.sh'), script, { mode: 0o755 });
  const args = ['--runs-dir', runsRoot, '--machine-id', 'legacy'];
  const workers: WorkerProcess[] = [];
  try {
    workers.push(await spawnWorker(server.env.address, taskQueue, 1, args));
    const submitted = await execa(
      process.execPath,
      [CLI, 'submit', '--dir', '.', '--detach', '--json', '--heartbeat-timeout', '5s', '--kill-grace', '2s'],
      { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } },
    );
    const { batchId } = JSON.parse(String(submitted.stdout)) as { batchId: string };
    let runsDir = '';
    const runDirMade = async () => {
      runsDir = (await ownRunsDir()) ?? '';
      return runsDir !== '' && (await readdir(runsDir).catch(() => [])).length > 0;
    };
    await until(runDirMade, 30_000, 'the run directory');
    const [runKey] = await readdir(runsDir);
    const specFile = path.join(runsDir, runKey, 'spec.json');
    await until(async () => (await readFile(specFile, 'utf8').catch(() => '')) !== '', 30_000, 'the spec');
    workers[0].kill('SIGTERM');
    await workers[0].exited();
    // What an older staged left: a spec without a link, and no link.
    const spec = JSON.parse(await readFile(specFile, 'utf8')) as RunSpec;
    delete spec.quota!.socket;
    await writeFile(specFile, JSON.stringify(spec));
    await rm(runSocketPath(quotaDirOf(runsDir), runKey), { force: true });

    workers.push(await spawnWorker(server.env.address, taskQueue, 1, args));
    await until(async () => (await readFile(granted, 'utf8').catch(() => '')).length > 0, 30_000, 'a grant');
    await writeFile(stopFile, '');
    const summary = await batchSummary((await findBatch(server.env.client, batchId))!.handle);
    expect(summary.experiments.map((experiment) => [experiment.status, experiment.attempts])).toEqual([
      ['completed', 1],
    ]);
  } finally {
    await writeFile(stopFile, '').catch(() => undefined);
    for (const worker of workers) worker.kill('SIGKILL');
  }
}, 120_000);
