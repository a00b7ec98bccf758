/** Notifications on a real server: a webhook receiver and a command, across a worker SIGKILL mid-delivery. */
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { WorkflowNotFoundError } from '@temporalio/client';
import { batchSummary, declareQuotas, queryBatchState } from '../../src/batch-client/index.js';
import { budgetQuery, budgetWorkflowId, rateLimitedSignal } from '../../src/protocol/quota-budget.js';
import { attemptLogFile } from '../../src/paths.js';
import type { Notification } from '../../src/model/notifications.js';
import { batchIn, startBatch, startWorker, uniqueQueue, useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';
import { tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { CLI, until, workerProcessesPerTest } from '../helpers/processes.js';
import { closeHttpServer } from '../helpers/http-servers.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

interface Received {
  key: string;
  header: string | undefined;
  body: Record<string, unknown>;
}

/**
 * A webhook receiver as a real one is: it handles each idempotency key once and answers a repeat with 200.
 * While `holding` says so, it never answers the first POST of a key (the sender's attempt hangs).
 */
class Receiver {
  readonly raw: Received[] = [];
  readonly handled = new Map<string, Record<string, unknown>>();
  holding = false;
  /** Answers the first POST of a key 503: the sender must try again. */
  refusingFirst = false;
  private readonly server: Server;
  private readonly held: ServerResponse[] = [];

  constructor() {
    this.server = createServer((request, response) => void this.receive(request, response));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  close(): Promise<void> {
    return closeHttpServer(this.server);
  }

  rawFor(event: string): Received[] {
    return this.raw.filter((post) => post.body.event === event);
  }

  private async receive(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of request) text += String(chunk);
    const body = JSON.parse(text) as Record<string, unknown>;
    const key = String(body.idempotencyKey);
    const header = request.headers['idempotency-key'] as string | undefined;
    const first = !this.raw.some((post) => post.key === key);
    this.raw.push({ key, header, body });
    if (first && this.holding) {
      this.held.push(response);
      return;
    }
    if (first && this.refusingFirst) {
      response.writeHead(503).end('busy');
      return;
    }
    if (!this.handled.has(key)) this.handled.set(key, body);
    response.writeHead(200).end('ok');
  }
}

function staged(args: string[], cwd: string, taskQueue: string) {
  return execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}

/** exp1 completes; exp2 fails with exit code 3 (no retry). */
async function twoExperiments(prefix: string) {
  const { dir, journal } = await tempExperimentsDir(prefix);
  await writeScript(dir, 'exp1_ok', journal);
  await writeScript(dir, 'exp2_broken', journal, { body: 'echo broken; exit 3' });
  return dir;
}

test(
  'submit with a config webhook and --notify-cmd: failed, completed and batch-end each arrive once, with their ' +
    'fields, the key in body and header, and the command sees its environment',
  async () => {
    const dir = await twoExperiments('notify-fields');
    const receiver = new Receiver();
    const webhook = await receiver.listen();
    const notify: Notification[] = [{ on: ['failed', 'completed', 'batch-end'], webhook }];
    await writeFile(path.join(dir, 'staged.config.json'), JSON.stringify({ notify }));
    const { taskQueue, worker } = await workerOnOwnQueue(server.env, 3);
    const envFile = path.join(dir, '_notified');
    const command = `env | grep ^STAGED_ | sort >> "${envFile}"; echo "--" >> "${envFile}"`;
    const batchId = 'notify-fields';

    try {
      await worker.runUntil(async () => {
        const submit = await staged(
          ['submit', '--dir', dir, '--max-retries', '0', '--batch-id', batchId, '--notify-cmd', command, '--json'],
          dir,
          taskQueue,
        );
        expect(submit.exitCode).toBe(1); // one failed
      });
    } finally {
      await receiver.close();
    }

    const log = (name: string) => attemptLogFile(dir, batchId, name, 1);
    expect(Object.fromEntries(receiver.handled)).toEqual({
      [`${batchId}:failed:exp2_broken:1`]: {
        text: `[staged] exp2_broken failed in batch ${batchId} (attempt 1, exit code 3)`,
        event: 'failed',
        batchId,
        experiment: 'exp2_broken',
        status: 'failed',
        exitCode: 3,
        run: 1,
        log: log('exp2_broken'),
        idempotencyKey: `${batchId}:failed:exp2_broken:1`,
      },
      [`${batchId}:completed:exp1_ok:1`]: expect.objectContaining({
        event: 'completed',
        experiment: 'exp1_ok',
        status: 'completed',
        exitCode: 0,
        log: log('exp1_ok'),
      }),
      [`${batchId}:batch-end`]: {
        text: `[staged] batch ${batchId} ended: failed (1 completed, 1 failed)`,
        event: 'batch-end',
        batchId,
        status: 'failed',
        counts: { completed: 1, failed: 1 },
        idempotencyKey: `${batchId}:batch-end`,
      },
    });
    expect(receiver.raw).toHaveLength(3);
    for (const post of receiver.raw) expect(post.header).toBe(post.key);
    // The log it names is the one `logs` shows.
    expect(await readFile(log('exp2_broken'), 'utf8')).toContain('broken');

    const environments = (await readFile(envFile, 'utf8'))
      .split('--\n')
      .filter(Boolean)
      .map((block) =>
        Object.fromEntries(
          block
            .trim()
            .split('\n')
            .map((line) => line.split(/=(.*)/s).slice(0, 2)),
        ),
      );
    expect(environments).toHaveLength(2); // --notify-cmd: failed and batch-end, not completed
    const byEvent = Object.fromEntries(environments.map((env) => [env.STAGED_EVENT, env]));
    expect(byEvent.failed).toEqual({
      STAGED_EVENT: 'failed',
      STAGED_BATCH_ID: batchId,
      STAGED_EXPERIMENT: 'exp2_broken',
      STAGED_STATUS: 'failed',
      STAGED_EXIT_CODE: '3',
      STAGED_LOG: log('exp2_broken'),
      STAGED_COUNTS: '',
      STAGED_QUOTA: '',
      STAGED_NOTIFY_ID: `${batchId}:failed:exp2_broken:1`,
    });
    expect(byEvent['batch-end']).toMatchObject({
      STAGED_STATUS: 'failed',
      STAGED_COUNTS: 'completed=1,failed=1',
      STAGED_NOTIFY_ID: `${batchId}:batch-end`,
    });
  },
);

test(
  'a worker SIGKILLed in the middle of delivering: after a new worker, every event is handled exactly once by ' +
    'its key, and the interrupted ones were sent again with the same key',
  async () => {
    const dir = await twoExperiments('notify-kill');
    const receiver = new Receiver();
    receiver.holding = true;
    const webhook = await receiver.listen();
    const { taskQueue, state } = await batchIn(dir, { maxRetries: 0 });
    state.notifications = [{ on: ['failed', 'completed', 'batch-end'], webhook }];
    const started = Date.now();
    try {
      const first = await startWorkerProcess(server.env.address, taskQueue, 3, [], { ownGroup: true });
      const handle = await startBatch(server.env, state);
      // Both experiments ended; the worker is in the middle of sending their events.
      await until(() => receiver.rawFor('failed').length + receiver.rawFor('completed').length === 2, 60_000, 'POSTs');
      process.kill(-first.pid, 'SIGKILL');
      await first.exited();
      receiver.holding = false;
      const killedAt = Date.now();
      await startWorkerProcess(server.env.address, taskQueue, 3);
      const summary = await batchSummary(handle);
      console.log(`delivered ${((Date.now() - killedAt) / 1000).toFixed(1)}s after the SIGKILL`);
      expect(summary.experiments.map((e) => [e.name, e.status])).toEqual([
        ['exp1_ok', 'completed'],
        ['exp2_broken', 'failed'],
      ]);
    } finally {
      await receiver.close();
    }
    console.log(`whole test: ${((Date.now() - started) / 1000).toFixed(1)}s`);

    const keys = (event: string) => [...new Set(receiver.rawFor(event).map((post) => post.key))];
    expect(Object.fromEntries(['failed', 'completed', 'batch-end'].map((event) => [event, keys(event)]))).toEqual({
      failed: [`${state.batchId}:failed:exp2_broken:1`],
      completed: [`${state.batchId}:completed:exp1_ok:1`],
      'batch-end': [`${state.batchId}:batch-end`],
    });
    expect([...receiver.handled.keys()].sort()).toEqual([
      `${state.batchId}:batch-end`,
      `${state.batchId}:completed:exp1_ok:1`,
      `${state.batchId}:failed:exp2_broken:1`,
    ]);
    // Interrupted: each was sent at least twice, always with its one key.
    expect(receiver.rawFor('failed').length).toBeGreaterThanOrEqual(2);
    expect(receiver.rawFor('completed').length).toBeGreaterThanOrEqual(2);
  },
);

test('a webhook that refuses connections: the batch completes, and status shows the failed notification', async () => {
  const { dir, journal } = await tempExperimentsDir('notify-refused');
  await writeScript(dir, 'exp1_ok', journal);
  const closed = new Receiver();
  const webhook = await closed.listen();
  await closed.close(); // nothing listens there now: ECONNREFUSED
  const { taskQueue, state } = await batchIn(dir);
  state.notifications = [{ on: ['batch-end'], webhook }];
  const worker = await startWorker(server.env, taskQueue, 3);
  await worker.runUntil(async () => {
    const summary = await batchSummary(await startBatch(server.env, state));
    expect(summary.experiments.map((e) => e.status)).toEqual(['completed']);
  });
  const line = `[NOTIFY] failed: webhook ${webhook} (batch-end) 3 attempts: ECONNREFUSED`;
  const status = await staged(['status', state.batchId], dir, taskQueue);
  expect(status.exitCode).toBe(0);
  expect(status.stdout).toContain(line);
  const json = await staged(['status', state.batchId, '--json'], dir, taskQueue);
  expect(JSON.parse(String(json.stdout))).toMatchObject({
    status: 'completed',
    notifyFailures: [line.replace('[NOTIFY] ', '')],
  });
});

test('a bad notify entry in staged.config.json: exit 2 naming it, and no batch is started', async () => {
  const dir = await twoExperiments('notify-bad');
  await writeFile(path.join(dir, 'staged.config.json'), JSON.stringify({ notify: [{ on: ['failed'] }] }));
  const submit = await staged(['submit', '--dir', dir, '--batch-id', 'notify-bad'], dir, uniqueQueue());
  expect(submit.exitCode).toBe(2);
  expect(submit.stderr).toContain('give exactly one of "command" and "webhook"');
  expect(submit.stderr).toContain('notify[0]');
  await expect(server.env.client.workflow.getHandle('notify-bad').describe()).rejects.toThrow(WorkflowNotFoundError);
});

test.each([
  ['while a worker runs the budget', true],
  // Its first task then holds the declaration and the 429s, whose handler is set first: it must know whom to tell.
  ['signalled before any worker ran the budget', false],
])(
  'a 429 that pauses a quota sends quota-paused once per pause, to the notifications submit declared: %s',
  async (_label, workerFirst) => {
    const receiver = new Receiver();
    const webhook = await receiver.listen();
    const workDir = await tempDir('notify-quota');
    const { taskQueue, worker } = await workerOnOwnQueue(server.env, 1);
    const budget = server.env.client.workflow.getHandle(budgetWorkflowId(taskQueue, 'api'));
    const notifications: Notification[] = [
      { on: ['quota-paused'], webhook },
      { on: ['failed'], webhook: `${webhook}/not-for-quotas` },
    ];
    const declareAndLimit = async () => {
      const quotas = { api: { limit: 100, windowMs: 60_000, hosts: [] } };
      await declareQuotas(server.env.client.workflow, taskQueue, quotas, { notifications, workDir });
      await budget.signal(rateLimitedSignal, { retryAfterMs: 60_000 });
      await budget.signal(rateLimitedSignal, { retryAfterMs: 60_000 }); // the same pause: no second event
    };
    const signalledAt = Date.now();
    try {
      if (!workerFirst) await declareAndLimit();
      await worker.runUntil(async () => {
        if (workerFirst) await declareAndLimit();
        await until(() => receiver.handled.size === 1, 120_000, 'quota-paused received'); // a delivery, not a deadline
        // The second 429 may land in a later workflow task and lengthen the pause: the event names its first end.
        const announced = Number(receiver.raw[0]?.body.pausedUntil);
        expect(announced).toBeGreaterThanOrEqual(signalledAt + 60_000);
        expect(announced).toBeLessThanOrEqual((await budget.query(budgetQuery)).pausedUntil!);
        expect(receiver.raw.map((post) => post.body)).toEqual([
          {
            text: `[staged] quota api paused by a 429 until ${new Date(announced).toISOString()}`,
            event: 'quota-paused',
            quota: 'api',
            pausedUntil: announced,
            idempotencyKey: `${budgetWorkflowId(taskQueue, 'api')}:quota-paused:${announced}`,
          },
        ]);
        // Both signals are in the history (the query answered after them): one delivery was ever scheduled.
        const { events } = await budget.fetchHistory();
        expect(events!.filter((event) => event.activityTaskScheduledEventAttributes)).toHaveLength(1);
      });
    } finally {
      await receiver.close();
    }
  },
  150_000,
);

test('a batch continuing as new with deliveries under way: each event is sent once, none lost or doubled', async () => {
  const { dir, journal } = await tempExperimentsDir('notify-can');
  for (let i = 1; i <= 8; i++) await writeScript(dir, `exp${i}_spanning`, journal, { body: `sleep 0.${2 + (i % 4)}` });
  await writeScript(dir, 'exp9_broken', journal, { body: 'exit 1' });
  const receiver = new Receiver();
  // Each delivery needs a retry a second later: still under way when the batch continues as new.
  receiver.refusingFirst = true;
  const webhook = await receiver.listen();
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 3, maxRetries: 0, historyLimit: 20 });
  state.notifications = [{ on: ['completed', 'failed', 'batch-end'], webhook }];
  const worker = await startWorker(server.env, taskQueue, 3);
  try {
    const generation = await worker.runUntil(async () => {
      const handle = await startBatch(server.env, state);
      await batchSummary(handle);
      return (await queryBatchState(handle)).generation;
    });
    expect(generation).toBeGreaterThanOrEqual(2);
  } finally {
    await receiver.close();
  }
  const expected = [
    ...Array.from({ length: 8 }, (_, i) => `${state.batchId}:completed:exp${i + 1}_spanning:1`),
    `${state.batchId}:failed:exp9_broken:1`,
    `${state.batchId}:batch-end`,
  ];
  expect([...receiver.handled.keys()].sort()).toEqual(expected.sort());
  expect(receiver.raw).toHaveLength(2 * expected.length); // refused once, then handled: nothing sent a third time
}, 120_000);
