/**
 * A worker's log says nothing alarming or idle at its start: its SDK Workers for activities only (machine, worker
 * and requirement queues) are meant so, and the SDK's warning that they poll no workflow tasks is not said; the SDK
 * Workers' lifecycle lines wait for DEBUG. A server outage is said when it starts and when it ends, not in a warning
 * for each retried call. Real server, a real worker process at the default log level; asserted on everything it
 * printed.
 */
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { execa } from 'execa';
import { workerCommand } from '../../src/cli/worker-command.js';
import { LIFECYCLE_LINES, NO_WORKFLOWS_WARNING } from '../../src/machine/sdk-logger.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { uniqueQueue, useTestServer } from '../helpers/temporal.js';
import { ownServer } from '../helpers/own-server.js';

const server = useTestServer();

const { TASK_QUEUE_TYPE_WORKFLOW: WORKFLOWS, TASK_QUEUE_TYPE_ACTIVITY: ACTIVITIES } =
  proto.temporal.api.enums.v1.TaskQueueType;

/** Resolves once every queue has a poller of its type: each SDK Worker has started, and said what it says then. */
async function pollingOn(client: Client, queues: [string, proto.temporal.api.enums.v1.TaskQueueType][]) {
  const polled = async ([name, taskQueueType]: (typeof queues)[number]) => {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name },
      taskQueueType,
    });
    return (pollers ?? []).length > 0;
  };
  await until(async () => (await Promise.all(queues.map(polled))).every(Boolean), 60_000, 'its SDK Workers to poll');
}

/** The queues of the SDK Workers a worker runs: the shared queue (workflows too), the machine's and its own. */
function queuesOf(
  taskQueue: string,
  machineId: string,
  pid: number,
): [string, proto.temporal.api.enums.v1.TaskQueueType][] {
  return [
    [taskQueue, WORKFLOWS],
    [`${taskQueue}@${machineId}`, ACTIVITIES],
    [`${taskQueue}@worker:${pid}@${machineId}`, ACTIVITIES],
  ];
}

const lifecycleLinesIn = (log: string) =>
  log.split('\n').filter((line) => [...LIFECYCLE_LINES].some((text) => line.includes(text)));

function startWorker(address: string, taskQueue: string, dir: string, logLevel: string, extraArgs: string[] = []) {
  const args = ['--slots', '1', '--allow-dir', dir, '--runs-dir', path.join(dir, 'runs'), ...extraArgs];
  const worker = execa(process.execPath, workerCommand(args), {
    env: {
      TEMPORAL_ADDRESS: address,
      STAGED_TASK_QUEUE: taskQueue,
      STAGED_MACHINE_ID: 'm1',
      STAGED_LOG_LEVEL: logLevel,
    },
    reject: false,
    all: true, // stdout and stderr, as a user's terminal or `.staged/worker.log` has them
    buffer: false,
  });
  const printed = { log: '' };
  worker.all.on('data', (chunk: Buffer) => (printed.log += chunk.toString()));
  return { worker, printed };
}

test("a worker's log at the default level: no 'No workflows registered' warning, no SDK lifecycle lines", async () => {
  const dir = await tempDir('sdk-warnings');
  const taskQueue = uniqueQueue();
  // INFO is the default, whatever the test's environment says.
  const { worker, printed } = startWorker(server.env.address, taskQueue, dir, 'INFO', ['--resources', 'avx512']);
  try {
    await pollingOn(server.env.client, [
      ...queuesOf(taskQueue, 'm1', worker.pid!),
      [`${taskQueue}@needs:avx512`, ACTIVITIES],
    ]);
    expect(printed.log).not.toContain(NO_WORKFLOWS_WARNING);
    worker.kill('SIGTERM');
    await worker;
    // Before: 7 lines per SDK Worker, 28 here, for a start and a stop that the worker's own two lines say.
    expect(lifecycleLinesIn(printed.log)).toEqual([]);
    expect(printed.log).toContain('staged worker: SIGTERM: stopping (at most 30 s)');
  } finally {
    worker.kill('SIGKILL');
  }
});

test('the SDK lifecycle lines are there at DEBUG', async () => {
  const dir = await tempDir('sdk-warnings-debug');
  const taskQueue = uniqueQueue();
  const { worker, printed } = startWorker(server.env.address, taskQueue, dir, 'DEBUG');
  try {
    await pollingOn(server.env.client, queuesOf(taskQueue, 'm1', worker.pid!));
    await until(() => lifecycleLinesIn(printed.log).length >= 3, 30_000, 'the lifecycle lines');
    expect(lifecycleLinesIn(printed.log).every((line) => line.includes('[DEBUG]'))).toBe(true);
    expect(printed.log).not.toContain(NO_WORKFLOWS_WARNING);
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
  const taskQueue = uniqueQueue();
  const { worker, printed } = startWorker(devServer.address, taskQueue, dir, 'INFO');
  const connection = await Connection.connect({ address: devServer.address });
  try {
    await pollingOn(new Client({ connection }), queuesOf(taskQueue, 'm1', worker.pid!));
    const before = printed.log.length;
    await devServer.kill();
    await until(() => printed.log.includes('the Temporal server does not answer'), 30_000, 'the outage to be said');
    await delay(OUTAGE_MS);
    await devServer.start();
    await until(() => printed.log.includes('the Temporal server answers again'), 30_000, 'its end to be said');
    const outage = printed.log.slice(before).split('\n').filter(Boolean);
    // Before: a coloured SDK warning per call retried past 5 times (66 in a user's 32 s; the trial's 355 in 57 s)
    expect(outage.filter((line) => /gRPC call \w+ retried \d+ times/.test(line))).toHaveLength(1);
    expect(printed.log).not.toContain('\x1b[');
    expect(outage.length).toBeLessThanOrEqual(5);
    expect(outage.find((line) => line.includes('the Temporal server answers again'))).toMatch(
      /\(\d+ SDK warnings of retried calls/,
    );
  } finally {
    await connection.close();
    worker.kill('SIGTERM');
    await worker;
    await devServer.kill();
  }
}, 150_000);
