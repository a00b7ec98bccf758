/**
 * Quota recovery (issue 18, point 9): an API whose real limit (50/5s) is half the declared one (100/5s).
 * The first batch finds it (429s lower the budget's limit, quiet windows raise it again); the next batch,
 * on the same budget, should run at the real limit from its start. Times come from the API's log and
 * from the budget's view, sampled every 250 ms.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { batchSummary } from '../src/batch-client/index.js';
import { budgetQuery, budgetWorkflowId } from '../src/protocol/quota-budget.js';
import { writeQuotaConfig, writeQuotaExperiments } from '../test/helpers/quota-experiments.js';
import { RateLimitedApi, type ApiRequest } from '../test/helpers/rate-limited-api.js';
import { report, staged, startWorker, type BenchServer } from './bench-env.js';

const DECLARED = 100;
const REAL = 50;
const WINDOW_MS = 5_000;
const EXPERIMENTS = 20;
const CALLS_EACH = 20;
const CALLS = EXPERIMENTS * CALLS_EACH;
const CONCURRENCY = 10;
/** Under the real limit: REAL calls at once, then REAL more each window. */
const LEAST_MS = (CALLS / REAL - 1) * WINDOW_MS;

interface Sample {
  at: number;
  effectiveLimit: number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function quotaRecovery(env: BenchServer): Promise<void> {
  console.log(
    `  ${EXPERIMENTS} experiments × ${CALLS_EACH} calls, declared ${DECLARED}/5s, the API's real limit ${REAL}/5s ` +
      `(429 with Retry-After), --max-concurrent ${CONCURRENCY}; then the same batch again on the same budget`,
  );
  const api = new RateLimitedApi({ limit: REAL, windowMs: WINDOW_MS });
  await api.start();
  const taskQueue = `bench-quota-recovery-${Date.now()}`;
  const worker = await startWorker(env.address, taskQueue, CONCURRENCY);
  const samples: Sample[] = [];
  let sampling = true;
  const sampler = (async () => {
    const handle = env.client.workflow.getHandle(budgetWorkflowId(taskQueue, 'fakeapi'));
    while (sampling) {
      const view = await handle.query(budgetQuery).catch(() => undefined);
      if (view) samples.push({ at: Date.now(), effectiveLimit: view.effectiveLimit });
      await delay(250);
    }
  })();
  try {
    const batches: ApiRequest[][] = [];
    for (const name of ['first', 'next']) batches.push(await runBatch(env, api, taskQueue, name, DECLARED));
    sampling = false;
    await sampler;
    firstBatch(batches[0], samples);
    nextBatch(batches[1], 'next batch');
  } finally {
    sampling = false;
    await worker.stop();
  }
  // the reference: the same batch on a budget declared at the real limit from the start (on a queue of its own)
  await delay(WINDOW_MS); // the API's window empties first
  const referenceQueue = `${taskQueue}-reference`;
  const referenceWorker = await startWorker(env.address, referenceQueue, CONCURRENCY);
  try {
    const reference = await runBatch(env, api, referenceQueue, 'reference', REAL);
    nextBatch(reference, `the same batch declared ${REAL}/5s (the real limit) from the start`);
  } finally {
    await referenceWorker.stop();
    await api.stop();
  }
}

/** One batch of the experiments under `declared`/5s; returns the calls the API saw meanwhile. */
async function runBatch(env: BenchServer, api: RateLimitedApi, taskQueue: string, name: string, declared: number) {
  const dir = await mkdtemp(path.join(tmpdir(), `staged-bench-quota-recovery-${name}-`));
  await writeQuotaConfig(dir, { fakeapi: { limit: `${declared}/5s`, hosts: [`127.0.0.1:${api.port}`] } });
  await writeQuotaExperiments(dir, api.port, {
    count: EXPERIMENTS,
    calls: CALLS_EACH,
    quotaLine: 'Quota: fakeapi',
    onRefused: 'retry',
  });
  const batchId = `${taskQueue}-${name}`;
  const options = ['--max-concurrent', String(CONCURRENCY), '--batch-id', batchId];
  const before = api.requests().length;
  const submit = await staged(['submit', '--dir', dir, '--detach', ...options], env.address, taskQueue, dir);
  if (submit.exitCode !== 0) throw new Error(`staged quota recovery ${name} failed: ${submit.stderr}`);
  await batchSummary(env.client.workflow.getHandle(batchId));
  return api.requests().slice(before);
}

/** How soon after the first 429 the budget's limit came within 10% of the real one, and what each window got. */
function firstBatch(requests: ApiRequest[], samples: Sample[]): void {
  const firstRefusal = requests.find((request) => !request.accepted)?.at;
  if (firstRefusal === undefined) return report('first batch', 'no 429: the real limit was never met');
  const near = samples.find(
    (sample) => sample.at > firstRefusal && Math.abs(sample.effectiveLimit - REAL) <= REAL * 0.1,
  );
  report(
    `first batch: from the first 429 to a limit within 10% of the real ${REAL}`,
    near ? `${((near.at - firstRefusal) / WINDOW_MS).toFixed(1)} windows (limit ${near.effectiveLimit})` : 'never',
    '≤ 3 windows',
  );
  const afterward = samples.filter((sample) => sample.at > firstRefusal).map((sample) => sample.effectiveLimit);
  report(
    'first batch: the limit after the first 429 (lowest, highest, last)',
    `${Math.min(...afterward)}, ${Math.max(...afterward)}, ${afterward.at(-1)}`,
  );
  report(
    'first batch: refused calls',
    `${requests.filter((request) => !request.accepted).length} of ${requests.length}`,
  );
}

function nextBatch(requests: ApiRequest[], label: string): void {
  const accepted = requests.filter((request) => request.accepted).map((request) => request.at);
  const spanMs = accepted.at(-1)! - accepted[0];
  report(
    `${label}: first to last call (the API log)`,
    `${seconds(spanMs)} = ${(spanMs / LEAST_MS).toFixed(2)}× the least the real limit allows (${seconds(LEAST_MS)})`,
    label === 'next batch' ? '≤ 1.15×' : '',
  );
  report(`${label}: refused calls`, `${requests.length - accepted.length} of ${requests.length}`);
}
