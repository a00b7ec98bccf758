/** A real Temporal dev server and an in-process staged worker for integration tests. */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { startBatch as startBatchWorkflow } from '../../src/batch-client/index.js';
import { DEFAULT_HISTORY_LIMIT } from '../../src/cli/batch-settings.js';
import { discoverExperiments, specOf } from '../../src/experiments/discover.js';
import { sortExperiments } from '../../src/experiments/order.js';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../src/server/dev-server.js';
import { findTemporalCli } from '../../src/server/temporal-cli.js';
import { newBatchState } from '../../src/shared/batch-state.js';
import type { BatchSettings, BatchState } from '../../src/shared/types.js';
import { createStagedWorker, type StagedWorker } from '../../src/worker.js';
import { STAGED_SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes.js';

/** Workers in tests log warnings only, so that a failure's output is readable. */
export function quietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by an earlier test file in this process.
  }
}

export async function startTestServer(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const path = await findTemporalCli({ build: false });
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      extraArgs: DEV_SERVER_DYNAMIC_CONFIG,
      searchAttributes: STAGED_SEARCH_ATTRIBUTES,
    },
  });
}

export function uniqueQueue(): string {
  return `test-${randomUUID()}`;
}

export async function startWorker(env: TestWorkflowEnvironment, taskQueue: string, slots = 10): Promise<StagedWorker> {
  return createStagedWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    slots,
    allowedRoots: [tmpdir(), process.cwd()],
  });
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

/** Discovers and orders experiments with the product's own code, as `submit` does. */
export async function batchStateFor(settings: BatchSettings, batchId = `batch-${randomUUID()}`): Promise<BatchState> {
  const experiments = sortExperiments(await discoverExperiments(settings.experimentsDir));
  return newBatchState(batchId, experiments.map(specOf), settings, Date.now());
}

/** Starts the batch as `submit` does (results/<id>/ reserved, memo, search attributes, id policy). */
export async function startBatch(env: TestWorkflowEnvironment, state: BatchState) {
  return startBatchWorkflow(env.client, state);
}

/** One real dev server for a test file: started before its tests, torn down after them. */
export function useTestServer(): { readonly env: TestWorkflowEnvironment } {
  const server = {} as { env: TestWorkflowEnvironment };
  beforeAll(async () => {
    server.env = await startTestServer();
  });
  afterAll(async () => {
    await server.env?.teardown();
  });
  return server;
}
