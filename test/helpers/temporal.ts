/** A real Temporal dev server and an in-process staged worker for integration tests. */
import { resolveAfterLines, withinBatch } from '../../src/experiments/after-lines.js';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { declareQuotas, startBatch as startBatchWorkflow } from '../../src/batch-client/index.js';
import { DEFAULT_HISTORY_LIMIT } from '../../src/cli/batch-settings.js';
import { discoverExperiments, specOf } from '../../src/experiments/discover.js';
import { sortExperiments } from '../../src/experiments/order.js';
import { startDevServer, type DevServerProcess } from '../../src/server/dev-server-process.js';
import { newBatchState } from '../../src/model/batch-state.js';
import type { BatchSettings, BatchState, QuotaDeclaration } from '../../src/model/types.js';
import { createStagedWorker, type StagedWorker } from '../../src/worker/main.js';

/** Workers in tests log warnings only, so that a failure's output is readable. */
export function quietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by an earlier test file in this process.
  }
}

/** A dev server of a test file (in memory) and the connections its tests use. */
export interface TestServer {
  readonly address: string;
  readonly namespace: string;
  readonly client: Client;
  readonly nativeConnection: NativeConnection;
  readonly devServer: DevServerProcess;
  /** Closes the connections and stops the server. */
  teardown(): Promise<void>;
}

export async function startTestServer(options: { ui?: boolean } = {}): Promise<TestServer> {
  quietRuntime();
  const devServer = await startDevServer({ ui: options.ui });
  const { address, namespace } = devServer;
  try {
    const connection = await Connection.connect({ address });
    const nativeConnection = await NativeConnection.connect({ address });
    return {
      address,
      namespace,
      client: new Client({ connection, namespace }),
      nativeConnection,
      devServer,
      async teardown() {
        await connection.close().catch(() => undefined);
        await nativeConnection.close().catch(() => undefined);
        await devServer.stop();
      },
    };
  } catch (err) {
    await devServer.stop();
    throw err;
  }
}

export function uniqueQueue(): string {
  return `test-${randomUUID()}`;
}

export async function startWorker(
  env: TestServer,
  taskQueue: string,
  slots = 10,
  allowedRoots = [tmpdir(), process.cwd()],
): Promise<StagedWorker> {
  return createStagedWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    slots,
    allowedRoots,
  });
}

/** An in-process worker on a task queue of its own. */
export async function workerOnOwnQueue(
  env: TestServer,
  slots: number,
  allowedRoots?: string[],
): Promise<{ taskQueue: string; worker: StagedWorker }> {
  const taskQueue = uniqueQueue();
  return { taskQueue, worker: await startWorker(env, taskQueue, slots, allowedRoots) };
}

export function testSettings(
  overrides: Partial<BatchSettings> & Pick<BatchSettings, 'experimentsDir' | 'workDir' | 'taskQueue'>,
): BatchSettings {
  return {
    maxConcurrent: 3,
    maxRetries: 2,
    retryDelayMs: 100,
    timeoutMs: 60_000,
    retryTimeouts: true,
    heartbeatTimeoutMs: 10_000,
    killGraceMs: 2_000,
    historyLimit: DEFAULT_HISTORY_LIMIT,
    searchAttributes: true,
    ...overrides,
  };
}

/**
 * Discovers and orders experiments with the product's own code, as `submit` does; `quotas` are the ones
 * staged.config.json declares (settings holding quotas: a batch as releases before the budgets owned them made it).
 */
export async function batchStateFor(
  settings: BatchSettings,
  batchId = `batch-${randomUUID()}`,
  quotas: Record<string, QuotaDeclaration> = settings.quotas ?? {},
): Promise<BatchState> {
  const names = new Set(Object.keys(quotas));
  const discovered = (await discoverExperiments(settings.experimentsDir, { quotas: names })).filter(
    (experiment) => !experiment.notExecutable,
  );
  const experiments = withinBatch(sortExperiments(resolveAfterLines(discovered)).map(specOf));
  return newBatchState(batchId, experiments, settings, Date.now());
}

/** A batch as `submit` starts one that uses quotas: each declared to its budget, which owns it; none in the batch. */
export async function quotaBatchStateFor(
  env: TestServer,
  settings: BatchSettings,
  quotas: Record<string, QuotaDeclaration>,
  batchId?: string,
): Promise<BatchState> {
  await declareQuotas(env.client.workflow, settings.taskQueue, quotas);
  return batchStateFor(settings, batchId, quotas);
}

/** A batch of one test: its own task queue, settings and state. */
export interface TestBatch {
  readonly taskQueue: string;
  readonly settings: BatchSettings;
  readonly state: BatchState;
}

/** A batch of the experiments in `dir`, which is also its work directory, on a task queue of its own. */
export async function batchIn(
  dir: string,
  overrides: Partial<BatchSettings> = {},
  batchId?: string,
): Promise<TestBatch> {
  const taskQueue = uniqueQueue();
  const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, ...overrides });
  return { taskQueue, settings, state: await batchStateFor(settings, batchId) };
}

/** Starts the batch as `submit` does (results/<id>/ reserved, memo, search attributes, id policy). */
export async function startBatch(env: TestServer, state: BatchState) {
  return startBatchWorkflow(env.client, state);
}

/** One real dev server for a test file: started before its tests, torn down after them. */
export function useTestServer(): { readonly env: TestServer } {
  const server = {} as { env: TestServer };
  beforeAll(async () => {
    server.env = await startTestServer();
  });
  afterAll(async () => {
    await server.env?.teardown();
  });
  return server;
}
