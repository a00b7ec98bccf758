/**
 * A worker's log says nothing alarming at its start: its SDK Workers for activities only (machine, worker and
 * requirement queues) are meant so, and the SDK's warning that they poll no workflow tasks is not said. A server
 * outage is said when it starts and when it ends, not in a warning for each retried call.
 * Real server, a real worker process at the default log level; asserted on everything it printed.
 */
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { workerCommand } from '../../src/cli/worker-command.js';
import { NO_WORKFLOWS_WARNING } from '../../src/machine/sdk-logger.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { uniqueQueue, useTestServer } from '../helpers/temporal.js';
import { ownServer } from '../helpers/own-server.js';

const server = useTestServer();

/** The SDK's last line of each SDK Worker's start, after the warning it would give. */
const NEXUS_LINE = 'No Nexus services registered, not polling for Nexus tasks';

test("a worker's log has no 'No workflows registered' warning from its activity-only SDK Workers", async () => {
  const dir = await tempDir('sdk-warnings');
  const taskQueue = uniqueQueue();
  const args = ['--slots', '1', '--allow-dir', dir, '--runs-dir', path.join(dir, 'runs'), '--resources', 'avx512'];
  const worker = execa(process.execPath, workerCommand(args), {
    env: {
      TEMPORAL_ADDRESS: server.env.address,
      STAGED_TASK_QUEUE: taskQueue,
      STAGED_MACHINE_ID: 'm1',
      STAGED_LOG_LEVEL: 'INFO', // the default, whatever the test's environment says
    },
    reject: false,
    all: true, // stdout and stderr, as a user's terminal or `.staged/worker.log` has them
    buffer: false,
  });
  let log = '';
  worker.all.on('data', (chunk: Buffer) => (log += chunk.toString()));
  try {
    // Four SDK Workers: the shared queue (workflows too), the machine's, the worker's, `needs:avx512`.
    const started = () => log.split(NEXUS_LINE).length - 1;
    await until(() => started() === 4, 60_000, 'its four SDK Workers to start polling');
    for (const queue of [`${taskQueue}@m1`, `${taskQueue}@worker:`, `${taskQueue}@needs:avx512`]) {
      expect(log).toContain(queue); // their start was logged: the warning would be there
    }
    expect(log).not.toContain(NO_WORKFLOWS_WARNING);
  } finally {
    worker.kill('SIGTERM');
    await worker;
  }
});

/** As long as the outage lasts: the scenario, not a wait for a condition. */
const OUTAGE_MS = 20_000;

test('a 20-s server outage is two lines in the worker log, uncoloured, not a warning per retried call', async () => {
  const dir = await tempDir('sdk-warnings-outage');
  const devServer = await ownServer(dir);
  await devServer.start();
  const args = ['--slots', '1', '--allow-dir', dir, '--runs-dir', path.join(dir, 'runs')];
  const worker = execa(process.execPath, workerCommand(args), {
    env: { TEMPORAL_ADDRESS: devServer.address, STAGED_TASK_QUEUE: uniqueQueue(), STAGED_LOG_LEVEL: 'INFO' },
    reject: false,
    all: true,
    buffer: false,
  });
  let log = '';
  worker.all.on('data', (chunk: Buffer) => (log += chunk.toString()));
  try {
    await until(() => log.split(NEXUS_LINE).length - 1 === 3, 60_000, 'its three SDK Workers to start polling');
    const before = log.length;
    await devServer.kill();
    await until(() => log.includes('the Temporal server does not answer'), 30_000, 'the outage to be said');
    await delay(OUTAGE_MS);
    await devServer.start();
    await until(() => log.includes('the Temporal server answers again'), 30_000, 'its end to be said');
    const outage = log.slice(before).split('\n').filter(Boolean);
    // Before: a coloured SDK warning per call retried past 5 times (66 in a user's 32 s; the trial's 355 in 57 s)
    expect(outage.filter((line) => /gRPC call \w+ retried \d+ times/.test(line))).toHaveLength(1);
    expect(log).not.toContain('\x1b[');
    expect(outage.length).toBeLessThanOrEqual(5);
    expect(outage.find((line) => line.includes('the Temporal server answers again'))).toMatch(
      /\(\d+ SDK warnings of retried calls/,
    );
  } finally {
    worker.kill('SIGTERM');
    await worker;
    await devServer.kill();
  }
}, 150_000);
