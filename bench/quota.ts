/**
 * The quota figure (issue 11): 30 experiments × 40 calls to a simulated API limited to 100/5s, through
 * `staged submit` and a worker process: metered by a `Quota:` line, the same batch under --max-concurrent
 * alone, and the metered batch with its worker SIGKILLed mid-way. Every time comes from the API's own log.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { batchSummary } from '../src/batch-client/index.js';
import type { BatchSummary } from '../src/model/types.js';
import { budgetQuery, budgetWorkflowId } from '../src/protocol/quota-budget.js';
import { writeQuotaConfig, writeQuotaExperiments } from '../test/helpers/quota-experiments.js';
import { RateLimitedApi } from '../test/helpers/rate-limited-api.js';
import { report, staged, startWorker, type BenchServer } from './bench-env.js';

const LIMIT = 100;
const WINDOW_MS = 5_000;
const EXPERIMENTS = 30;
const CALLS_EACH = 40;
const CONCURRENCY = 10;
const CALLS = EXPERIMENTS * CALLS_EACH;
/** The first LIMIT calls at once, then LIMIT more each window: the last batch starts this long after the first call. */
const LEAST_MS = (CALLS / LIMIT - 1) * WINDOW_MS;
/** The crash comes a little past the middle of the batch. */
const CRASH_AFTER_CALLS = 500;

interface QuotaRun {
  api: RateLimitedApi;
  summary: BatchSummary;
  /** From `submit` starting to the batch's summary. */
  wallMs: number;
  /** Calls the budget granted in all (its query), when the batch was metered. */
  granted?: number;
}

async function runBatch(env: BenchServer, name: string, metered: boolean, crash: boolean): Promise<QuotaRun> {
  const api = new RateLimitedApi({ limit: LIMIT, windowMs: WINDOW_MS });
  const { port } = await api.start();
  try {
    const dir = await mkdtemp(path.join(tmpdir(), `staged-bench-quota-${name}-`));
    await writeQuotaConfig(dir, { fakeapi: { limit: `${LIMIT}/5s`, hosts: [`127.0.0.1:${port}`] } });
    const quotaLine = metered ? 'Quota: fakeapi' : undefined;
    await writeQuotaExperiments(dir, port, { count: EXPERIMENTS, calls: CALLS_EACH, quotaLine, onRefused: 'give-up' });
    const taskQueue = `bench-quota-${name}-${Date.now()}`;
    const batchId = taskQueue;
    // A runs directory and machine id of its own, so that the worker started after the crash adopts the runs.
    const workerArgs = ['--runs-dir', path.join(dir, '_runs'), '--machine-id', `bench-${name}`];
    let worker = await startWorker(env.address, taskQueue, CONCURRENCY, workerArgs);
    const started = Date.now();
    // A short heartbeat timeout: the runs of the killed worker are adopted seconds after it comes back.
    const options = ['--max-concurrent', String(CONCURRENCY), '--max-retries', '0', '--batch-id', batchId];
    const lost = ['--heartbeat-timeout', '5s', '--kill-grace', '2s'];
    const submit = await staged(['submit', '--dir', dir, '--detach', ...options, ...lost], env.address, taskQueue, dir);
    if (submit.exitCode !== 0) throw new Error(`staged quota ${name} failed: ${submit.stderr}`);
    if (crash) {
      while (api.requests().length < CRASH_AFTER_CALLS) await delay(20);
      await worker.crash();
      worker = await startWorker(env.address, taskQueue, CONCURRENCY, workerArgs);
    }
    const summary = await batchSummary(env.client.workflow.getHandle(batchId));
    const wallMs = Date.now() - started;
    // The budget answers its query on a worker: ask before stopping it.
    const granted = metered
      ? (await env.client.workflow.getHandle(budgetWorkflowId(taskQueue, 'fakeapi')).query(budgetQuery)).grantedTotal
      : undefined;
    await worker.stop();
    return { api, summary, wallMs, granted };
  } finally {
    await api.stop();
  }
}

/** Grants that never became a call: dropped late or unused (then settled, so they left the window), or lost. */
function wasted(run: QuotaRun): string {
  const seen = run.api.requests().length;
  return `${run.granted! - seen} (${run.granted} granted, ${seen} calls)`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function outcome(run: QuotaRun): string {
  const failed = run.summary.experiments.filter((experiment) => experiment.status !== 'completed').length;
  const refused = run.api.rejections().length;
  return `${refused} of ${run.api.requests().length} calls refused, ${failed} of ${EXPERIMENTS} experiments failed`;
}

/** Where a metered batch's time went, from the API's log: the period of each further LIMIT calls, and the last ones. */
function makespan(run: QuotaRun, label: string): void {
  const accepted = run.api
    .requests()
    .filter((request) => request.accepted)
    .map((request) => request.at);
  const first = accepted[0];
  const spanMs = accepted.at(-1)! - first;
  report(
    `${label}: first to last call (the API's log)`,
    `${seconds(spanMs)} = ${(spanMs / LEAST_MS).toFixed(3)}× the least the limit allows (${seconds(LEAST_MS)})`,
    '≤ 1.05×',
  );
  report(`${label}: submit to batch done`, seconds(run.wallMs));
  if (accepted.length < CALLS) return;
  const windows = CALLS / LIMIT - 1;
  const periodMs = (accepted[windows * LIMIT] - first) / windows;
  report(
    `${label}: each further ${LIMIT} calls began after`,
    `${seconds(periodMs)} on average (window ${seconds(WINDOW_MS)})`,
  );
  report(`${label}: the first ${LIMIT} calls took`, seconds(accepted[LIMIT - 1] - first));
  report(`${label}: the last ${LIMIT} calls took`, seconds(accepted.at(-1)! - accepted[windows * LIMIT]));
  report(
    `${label}: most calls in any ${seconds(WINDOW_MS)} window`,
    String(run.api.maxInAnyWindow(WINDOW_MS)),
    `≤ ${LIMIT}`,
  );
}

export async function quota(env: BenchServer): Promise<void> {
  console.log(
    `  ${EXPERIMENTS} experiments × ${CALLS_EACH} calls to an API limited to ${LIMIT}/5s, ` +
      `--max-concurrent ${CONCURRENCY}; a refused call is retried 3 times, 1 s apart, then the script exits 1`,
  );
  const metered = await runBatch(env, 'metered', true, false);
  makespan(metered, 'with Quota:');
  report('with Quota:', outcome(metered), '0 refused');
  report('with Quota: granted − calls the API saw (grants dropped late, settled unused)', wasted(metered));
  const unmetered = await runBatch(env, 'unmetered', false, false);
  report('--max-concurrent alone', outcome(unmetered));
  const crashed = await runBatch(env, 'crash', true, true);
  report(`with Quota:, worker SIGKILLed after ${CRASH_AFTER_CALLS} calls`, outcome(crashed), '0 refused');
  report('after the crash: granted − calls the API saw', wasted(crashed));
  report('after the crash: most calls in any 5 s window', String(crashed.api.maxInAnyWindow(WINDOW_MS)), `≤ ${LIMIT}`);
}
