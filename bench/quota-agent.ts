/**
 * The quota agent's unhappy paths (issue 18, points 11 and 13), through `staged submit` and worker processes, timed
 * from the simulated API's own log: two workers on one machine with one stopped mid-batch, a worker stopped or
 * SIGKILLed and started again, curl experiments through the `staged-quota` command and through the socket, and a
 * per-second limit.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { batchSummary } from '../src/batch-client/index.js';
import {
  writeCallingExperiments,
  writeCurlExperiments,
  writeQuotaConfig,
  writeQuotaExperiments,
} from '../test/helpers/quota-experiments.js';
import { RateLimitedApi } from '../test/helpers/rate-limited-api.js';
import { report, staged, startWorker, type BenchServer } from './bench-env.js';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const tempDir = (name: string) => mkdtemp(path.join(tmpdir(), `staged-bench-agent-${name}-`));

async function submit(env: BenchServer, dir: string, taskQueue: string, batchId: string, args: string[] = []) {
  const submitted = await staged(
    ['submit', '--dir', dir, '--detach', '--batch-id', batchId, ...args],
    env.address,
    taskQueue,
    dir,
  );
  if (submitted.exitCode !== 0) throw new Error(`submit ${batchId} failed: ${submitted.stderr}`);
  return env.client.workflow.getHandle(batchId);
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await delay(20);
  }
}

/** The API's calls of each named experiment, and the first one after `since` (ms after it), worst of the names. */
function callsOf(api: RateLimitedApi, name: string) {
  return api.requests().filter((request) => request.path.startsWith(`/${name}?`));
}
function firstCallAfter(api: RateLimitedApi, names: string[], since: number): number | undefined {
  const after = names.map((name) => callsOf(api, name).find((request) => request.at > since)?.at);
  return after.every((at) => at !== undefined) ? Math.max(...after) - since : undefined;
}

async function twoWorkers(env: BenchServer): Promise<void> {
  const api = new RateLimitedApi({ limit: 10_000, windowMs: 1_000 });
  const { port } = await api.start();
  try {
    const root = await tempDir('pair');
    const stopFile = path.join(root, 'stop');
    const [firstDir, secondDir] = [await tempDir('pair-first'), await tempDir('pair-second')];
    await writeCallingExperiments(firstDir, port, ['first1', 'first2'], stopFile);
    await writeCallingExperiments(secondDir, port, ['second1', 'second2'], stopFile);
    const taskQueue = `bench-agent-pair-${Date.now()}`;
    const args = ['--runs-dir', path.join(root, 'runs'), '--machine-id', 'pair'];
    const first = await startWorker(env.address, taskQueue, 2, args);
    const firstBatch = await submit(env, firstDir, taskQueue, `${taskQueue}-first`);
    await waitFor(() => firstCallAfter(api, ['first1', 'first2'], 0) !== undefined, 'the first worker’s runs');
    const second = await startWorker(env.address, taskQueue, 4, args);
    const secondBatch = await submit(env, secondDir, taskQueue, `${taskQueue}-second`);
    await waitFor(() => firstCallAfter(api, ['second1', 'second2'], 0) !== undefined, 'the second worker’s runs');
    await delay(2_000);
    const stoppedAt = Date.now();
    await first.stop();
    const exitedAt = Date.now();
    await waitFor(() => firstCallAfter(api, ['first1', 'first2'], exitedAt) !== undefined, 'the adopted runs');
    await delay(2_000);
    await writeFile(stopFile, '');
    const [, secondSummary] = [await batchSummary(firstBatch), await batchSummary(secondBatch)];
    await second.stop();
    const neighbour = ['second1', 'second2'].flatMap((name) => callsOf(api, name).map((request) => request.at));
    const gaps = neighbour
      .sort((a, b) => a - b)
      .map((at, index) => (index ? at - neighbour[index - 1] : 0))
      .filter((_, index) => neighbour[index] >= stoppedAt);
    report(
      'two workers on one machine, one stopped (SIGTERM) mid-batch: the other’s runs’ longest pause in calls',
      `${seconds(Math.max(...gaps))} (its SIGTERM to exit: ${seconds(exitedAt - stoppedAt)})`,
      'keep calling within 2 s',
    );
    report(
      'the stopped worker’s runs, adopted by the other: first call after it exited',
      seconds(firstCallAfter(api, ['first1', 'first2'], exitedAt)!),
    );
    const counted = secondSummary.experiments.every(
      (experiment) => experiment.calls?.fakeapi === callsOf(api, experiment.name).length,
    );
    report('the other worker’s experiments: calls counted = calls the API saw', counted ? 'yes' : 'no', 'yes');
  } finally {
    await api.stop();
  }
}

async function restart(env: BenchServer, how: 'stop' | 'crash', outageMs: number): Promise<void> {
  const api = new RateLimitedApi({ limit: 10_000, windowMs: 1_000 });
  const { port } = await api.start();
  try {
    const dir = await tempDir(`restart-${how}`);
    const stopFile = path.join(dir, 'stop');
    const names = ['restart1', 'restart2', 'restart3', 'restart4'];
    await writeCallingExperiments(dir, port, names, stopFile);
    const taskQueue = `bench-agent-restart-${how}-${Date.now()}`;
    const args = ['--runs-dir', path.join(dir, '_runs'), '--machine-id', `restart-${how}`];
    let worker = await startWorker(env.address, taskQueue, 4, args);
    const lost = ['--max-concurrent', '4', '--heartbeat-timeout', '5s', '--kill-grace', '2s'];
    const batch = await submit(env, dir, taskQueue, taskQueue, lost);
    await waitFor(() => firstCallAfter(api, names, 0) !== undefined, 'the runs');
    await delay(2_000);
    const downAt = Date.now();
    await (how === 'stop' ? worker.stop() : worker.crash());
    await delay(outageMs);
    worker = await startWorker(env.address, taskQueue, 4, args);
    const upAt = Date.now();
    await waitFor(() => firstCallAfter(api, names, upAt) !== undefined, 'the runs to call again');
    const lastBefore = Math.max(...api.requests().flatMap((request) => (request.at < upAt ? [request.at] : [])));
    await writeFile(stopFile, '');
    await batchSummary(batch);
    await worker.stop();
    const resumedMs = firstCallAfter(api, names, upAt)!;
    report(
      `worker ${how === 'stop' ? 'stopped (SIGTERM)' : 'SIGKILLed'}, started again ${seconds(outageMs)} later: ` +
        'every run calls again after it is up',
      `${seconds(resumedMs)} (no calls for ${seconds(upAt + resumedMs - Math.max(lastBefore, downAt))})`,
      '~1 s',
    );
  } finally {
    await api.stop();
  }
}

/** A batch of `count` experiments under `limit`/`windowMs`: first to last call over the least the limit allows. */
async function meteredSpan(
  env: BenchServer,
  name: string,
  limit: number,
  windowMs: number,
  count: number,
  calls: number,
  write: (dir: string, port: number) => Promise<void>,
): Promise<string> {
  const api = new RateLimitedApi({ limit, windowMs });
  const { port } = await api.start();
  try {
    const dir = await tempDir(name);
    await writeQuotaConfig(dir, { fakeapi: { limit: `${limit}/${windowMs / 1000}s`, hosts: [`127.0.0.1:${port}`] } });
    await write(dir, port);
    const taskQueue = `bench-agent-${name}-${Date.now()}`;
    const worker = await startWorker(env.address, taskQueue, count);
    const summary = await batchSummary(
      await submit(env, dir, taskQueue, taskQueue, ['--max-concurrent', String(count), '--max-retries', '0']),
    );
    await worker.stop();
    const accepted = api.requests().filter((request) => request.accepted);
    const failed = summary.experiments.filter((experiment) => experiment.status !== 'completed').length;
    const leastMs = ((count * calls) / limit - 1) * windowMs;
    const spanMs = accepted.at(-1)!.at - accepted[0].at;
    return (
      `${seconds(spanMs)} = ${(spanMs / leastMs).toFixed(2)}× the least (${seconds(leastMs)}); ` +
      `${api.rejections().length} refused, ${failed} failed`
    );
  } finally {
    await api.stop();
  }
}

export async function quotaAgent(env: BenchServer): Promise<void> {
  await twoWorkers(env);
  await restart(env, 'stop', 0);
  await restart(env, 'crash', 11_000);
  for (const via of ['command', 'socket'] as const) {
    const granted = via === 'command' ? 'by `staged-quota acquire`' : 'by curl on the socket';
    report(
      `10 curl experiments × 40 calls under 100/5s, each call granted ${granted}`,
      await meteredSpan(env, `curl-${via}`, 100, 5_000, 10, 40, (dir, port) =>
        writeCurlExperiments(dir, port, 10, 40, via),
      ),
      via === 'command' ? '≤ 1.2×' : '',
    );
  }
  report(
    '10 Python experiments × 100 calls under 200/1s (plain urllib, Quota: line)',
    await meteredSpan(env, 'per-second', 200, 1_000, 10, 100, (dir, port) =>
      writeQuotaExperiments(dir, port, { count: 10, calls: 100, quotaLine: 'Quota: fakeapi', onRefused: 'retry' }),
    ),
    'was 3.3×',
  );
}
