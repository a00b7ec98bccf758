/** `staged worker` runs the worker program as its child: that child must not outlive the command unseen. */
import { readFileSync } from 'node:fs';
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
