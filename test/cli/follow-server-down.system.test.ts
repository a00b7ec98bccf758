/**
 * `watch` of a running batch whose server goes down: it says the server does not answer, not that no worker runs
 * the batch (which sent users to start a worker that was running). Real server, worker, script and CLI.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Client, Connection } from '@temporalio/client';
import { startBatch } from '../../src/batch-client/index.js';
import { ownServer } from '../helpers/own-server.js';
import { CLI, spawnWorker, until, type WorkerProcess } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { batchIn } from '../helpers/temporal.js';

test('watch says the server does not answer when it is down, not that no worker answers', async () => {
  const dir = await tempDir('follow-server-down');
  await writeFile(path.join(dir, 'exp1_long.sh'), '#!/bin/sh\nsleep 300\n', { mode: 0o755 });
  const server = await ownServer(dir);
  await server.start();
  const { taskQueue, state } = await batchIn(dir, { maxRetries: 0 });
  let worker: WorkerProcess | undefined;
  const connection = await Connection.connect({ address: server.address });
  let watch: ReturnType<typeof spawn> | undefined;
  try {
    worker = await spawnWorker(server.address, taskQueue, 1, [], { allowDirs: [dir] });
    await startBatch(new Client({ connection }), state);
    watch = spawn(process.execPath, [CLI, 'watch', state.batchId], {
      cwd: dir,
      env: { ...process.env, TEMPORAL_ADDRESS: server.address, STAGED_TASK_QUEUE: taskQueue },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    createInterface({ input: watch.stdout! }).on('line', (line) => lines.push(line));
    await until(() => lines.some((line) => line.startsWith('[START] exp1_long')), 240_000, 'exp1 started');

    await server.kill();
    await until(() => lines.some((line) => line.startsWith('[WAIT]')), 30_000, 'a [WAIT] line');
    const wait = lines.find((line) => line.startsWith('[WAIT]'))!;
    expect(wait).toMatch(/^\[WAIT\] the Temporal server does not answer \(.+\); retrying$/);
    expect(wait).not.toContain('worker');
  } finally {
    watch?.kill('SIGKILL');
    worker?.kill('SIGKILL');
    await connection.close();
    await server.kill();
  }
}, 360_000); // beyond its waits (240 s for the start, 30 s for the line) and a server's start on a loaded machine
