/** `staged worker` runs the worker program as its child: that child must not outlive the command unseen. */
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { CLI, LOAD_MARGIN_MS, pidAlive, until, waitUntilDead } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { startTestServer, uniqueQueue, type TestServer } from '../helpers/temporal.js';

let server: TestServer;
beforeAll(async () => (server = await startTestServer()));
afterAll(async () => server?.teardown());

/** The processes `pid` started (its threads' children). */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

test('the worker program stops when `staged worker` is SIGKILLed, instead of polling on unseen', async () => {
  const dir = await tempDir('worker-command');
  const command = execa(process.execPath, [CLI, 'worker', '--slots', '1', '--allow-dir', dir], {
    env: {
      TEMPORAL_ADDRESS: server.address,
      STAGED_TASK_QUEUE: uniqueQueue(),
      STAGED_RUNS_DIR: path.join(dir, 'runs'),
    },
    reject: false,
    detached: true, // a group of its own, so that the test can clean up whatever is left
  });
  let output = '';
  command.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    await until(() => output.includes('staged worker: '), 60_000, 'the worker to start');
    const [worker] = childrenOf(command.pid!);
    expect(worker).toBeDefined();
    expect(pidAlive(worker)).toBe(true);
    process.kill(command.pid!, 'SIGKILL'); // the command only, as `kill -9 <pid of staged worker>` does
    // It shuts down as on SIGTERM: its pollers end, then the process (well within the SDK's shutdown time).
    expect(await waitUntilDead([worker], 30_000 + LOAD_MARGIN_MS)).toBeDefined();
  } finally {
    try {
      process.kill(-command.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    await command; // its output pipe closes once the worker it started is gone too
  }
});

test.each([
  ['not set: the worker gets 2 malloc arenas, its runs not', undefined, '2', undefined],
  ['set by the user: the worker and its runs keep it', '8', '8', '8'],
])(
  'MALLOC_ARENA_MAX %s',
  async (_label, userValue, workerValue, runValue) => {
    const dir = await tempDir('worker-command-env');
    const out = path.join(dir, 'env.txt');
    await writeFile(path.join(dir, 'exp1_env.sh'), `#!/bin/sh\nenv > ${out}.partial && mv ${out}.partial ${out}\n`, {
      mode: 0o755,
    });
    const env = {
      TEMPORAL_ADDRESS: server.address,
      STAGED_TASK_QUEUE: uniqueQueue(),
      STAGED_RUNS_DIR: path.join(dir, 'runs'),
      ...(userValue === undefined ? {} : { MALLOC_ARENA_MAX: userValue }),
    };
    if (userValue === undefined) expect(process.env.MALLOC_ARENA_MAX).toBeUndefined(); // nor the test's own
    const command = execa(process.execPath, [CLI, 'worker', '--slots', '1', '--allow-dir', dir], {
      env,
      reject: false,
      detached: true,
    });
    let output = '';
    command.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await until(() => output.includes('staged worker: '), 60_000, 'the worker to start');
      const [worker] = childrenOf(command.pid!);
      const started = readFileSync(`/proc/${worker}/environ`, 'utf8').split('\0'); // as the worker was started
      expect(started).toContain(`MALLOC_ARENA_MAX=${workerValue}`);
      const submit = await execa(process.execPath, [CLI, 'submit', '--dir', dir, '--detach'], { env, cwd: dir });
      expect(submit.exitCode).toBe(0);
      await until(() => existsSync(out), 120_000, 'the experiment to write its environment');
      const seen = readFileSync(out, 'utf8').split('\n');
      expect(seen.filter((line) => line.startsWith('MALLOC_ARENA_MAX='))).toEqual(
        runValue === undefined ? [] : [`MALLOC_ARENA_MAX=${runValue}`],
      );
      expect(seen.filter((line) => line.startsWith('STAGED_WORKER_MALLOC'))).toEqual([]);
    } finally {
      try {
        process.kill(-command.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
      await command;
    }
  },
  180_000,
);
