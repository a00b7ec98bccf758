/**
 * A run's link as its worker's agent keeps it: a run its live worker let go of is still served through it until
 * another worker adopts the run, and a link made while a neighbour tends the runs directory is not swept away.
 */
import { mkdir, readlink, rm, symlink } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { declareQuotas } from '../../src/batch-client/index.js';
import { QuotaAgent, type MachineRunsView, type ServedRun } from '../../src/quota/agent.js';
import { BudgetClient } from '../../src/quota/budget-client.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { startWorker, uniqueQueue, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const quiet = () => undefined;

/** The runs directory of one machine as the agent sees it: the live runs, by run key. */
function machineOf(live: Map<string, ServedRun>, runKeys = () => Promise.resolve([...live.keys()])): MachineRunsView {
  return {
    runKeys,
    liveRun: (runKey) => Promise.resolve(live.get(runKey)),
    findRun: (token) => Promise.resolve([...live.values()].find((run) => run.token === token)),
  };
}

/** What `staged-quota acquire` sends: the HTTP status the agent behind the run's link answers. */
function acquire(socket: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const asked = request(
      { socketPath: socket, path: '/acquire', method: 'POST', headers: { authorization: `Bearer ${token}` } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    asked.on('error', reject);
    asked.end(JSON.stringify({ quota: 'api', calls: 1 }));
  });
}

test('a run its live worker let go of is served through its link until another worker adopts it', async () => {
  const taskQueue = uniqueQueue();
  const budgetWorker = await startWorker(server.env, taskQueue); // runs the quota's budget workflow
  const quotaDir = path.join(await tempDir('quota-let-go'), 'runs.quota');
  const live = new Map<string, ServedRun>();
  await declareQuotas(server.env.client.workflow, taskQueue, { api: { limit: 100, windowMs: 1_000, hosts: [] } });
  const budgets = new BudgetClient(server.env.client, taskQueue);
  const passes = [0, 0];
  const counting = (agent: number) => () => {
    passes[agent]++;
    return Promise.resolve([...live.keys()]);
  };
  const first = new QuotaAgent(budgets, quotaDir, machineOf(live, counting(0)), quiet);
  const second = new QuotaAgent(budgets, quotaDir, machineOf(live, counting(1)), quiet);
  const run: ServedRun = {
    token: 'let-go-token',
    experiment: 'exp1_calls',
    quotas: ['api'],
    socket: first.runSocket('run-1'),
  };
  live.set('run-1', run);
  await budgetWorker.runUntil(async () => {
    await first.listen();
    await second.listen();
    try {
      await first.register(run);
      expect(await acquire(run.socket!, run.token)).toBe(200);
      // Its activity's heartbeat timed out: the worker, alive, lets the run go; nobody has adopted it yet.
      first.unregister(run.token);
      expect(await readlink(run.socket!)).toBe(first.socketPath);
      expect(await acquire(run.socket!, run.token)).toBe(200);
      // Still served after the agents' next passes over the runs directory (the second sees the first answer).
      const [firstPasses, secondPasses] = passes;
      await until(() => passes[0] > firstPasses + 1 && passes[1] > secondPasses + 1, 20_000, 'two passes of each');
      expect(await acquire(run.socket!, run.token)).toBe(200);
      // Adopted by the second worker: its link points there, and the run is served there.
      await second.register(run);
      expect(await readlink(run.socket!)).toBe(second.socketPath);
      expect(await acquire(run.socket!, run.token)).toBe(200);
    } finally {
      await first.close();
      await second.close();
    }
  });
}, 60_000);

test('a new run’s link made while a neighbour reads the runs directory is left alone', async () => {
  const quotaDir = path.join(await tempDir('quota-new-link'), 'runs.quota');
  await mkdir(quotaDir, { recursive: true });
  // The neighbour that holds the new run: alive, listening on its own socket.
  const neighbour: Server = createServer();
  const neighbourSocket = path.join(quotaDir, 'w-neighbour.sock');
  await new Promise<void>((resolve) => neighbour.listen(neighbourSocket, resolve));
  const live = new Map<string, ServedRun>();
  let newLink: string | undefined;
  const agent: QuotaAgent = new QuotaAgent(
    new BudgetClient(server.env.client, uniqueQueue()),
    quotaDir,
    machineOf(live, async () => {
      const keys = [...live.keys()];
      // The neighbour starts a run just after this pass read the run keys: its run directory, then its link.
      if (!newLink) {
        newLink = agent.runSocket('run-new');
        live.set('run-new', { token: 'new-token', experiment: 'exp1_new', quotas: [], socket: newLink });
        await symlink(neighbourSocket, newLink);
      }
      return keys;
    }),
    quiet,
  );
  try {
    await agent.listen(); // one pass over the runs directory before it answers
    expect(newLink).toBeDefined();
    expect(await readlink(newLink!)).toBe(neighbourSocket);
  } finally {
    await agent.close();
    await new Promise<void>((resolve) => neighbour.close(() => resolve()));
    await rm(quotaDir, { recursive: true, force: true });
  }
}, 30_000);
