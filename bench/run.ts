/**
 * `npm run bench`: how close staged packs work to the ideal, side by side with `xargs -P`, at scale, and
 * under a quota (bench/quota.ts). Prints figures with their targets; never fails because the machine is slow.
 * Both sides of each comparison run in the same invocation, since this machine is shared and noisy.
 * `--cluster` runs the packing and throughput parts on the dev server and on a PostgreSQL cluster with
 * three workers (bench/cluster.ts), one after the other for each part, and prints cluster ÷ dev server.
 */
import { readFile } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import { execa } from 'execa';
import { batchSummary } from '../src/batch-client/index.js';
import { startDevServer } from '../src/server/dev-server-process.js';
import {
  killWorkers,
  report,
  reportFor,
  rows,
  staged,
  startWorker,
  startWorkers,
  type BenchServer,
} from './bench-env.js';
import { startBenchCluster } from './cluster.js';
import { quota } from './quota.js';
import { makeExperiments, percentile, readTimeline, refillGaps, type Timeline } from './timeline.js';

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024);
}

/** Times `status --json` a few times on a running batch: one CLI process each, as a user runs it. */
async function timeStatus(address: string, taskQueue: string, cwd: string, batchId: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    const status = await staged(['status', batchId, '--json'], address, taskQueue, cwd);
    if (status.exitCode === 0) times.push(Date.now() - started);
  }
  return times;
}

interface StagedRun {
  timeline: Timeline;
  /** `status --json` times on the running batch, when asked for. */
  statusMs: number[];
}

async function runStaged(
  env: BenchServer,
  count: number,
  seconds: number,
  concurrency: number,
  name: string,
  timeStatusAfterMs?: number,
): Promise<StagedRun> {
  const { dir, journal } = await makeExperiments(name, count, seconds);
  const taskQueue = `bench-${name}-${Date.now()}`;
  const batchId = `bench-${name}-${Date.now()}`;
  const workers = await startWorkers(env, taskQueue, concurrency);
  const submit = await staged(
    ['submit', '--dir', dir, '--max-concurrent', String(concurrency), '--detach', '--batch-id', batchId],
    env.address,
    taskQueue,
    dir,
  );
  if (submit.exitCode !== 0) throw new Error(`staged ${name} failed: ${submit.stderr}`);
  let statusMs: number[] = [];
  if (timeStatusAfterMs !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, timeStatusAfterMs));
    statusMs = await timeStatus(env.address, taskQueue, dir, batchId);
  }
  const summary = await batchSummary(env.client.workflow.getHandle(batchId));
  await Promise.all(workers.map((worker) => worker.stop()));
  if (summary.experiments.some((experiment) => experiment.status !== 'completed'))
    throw new Error(`staged ${name}: not all completed`);
  return { timeline: await readTimeline(journal), statusMs };
}

async function runXargs(count: number, seconds: number, concurrency: number, name: string): Promise<Timeline> {
  const { dir, journal } = await makeExperiments(`${name}-xargs`, count, seconds);
  await execa('sh', ['-c', `ls "${dir}"/exp* | xargs -P${concurrency} -I{} env STAGED_EXPERIMENT={} {}`]);
  return readTimeline(journal);
}

/** ` — on the cluster (3 workers)`, or nothing on the dev server. */
const where = (env: BenchServer) => (env.workers > 1 ? ` — on the ${env.name} (${env.workers} workers)` : '');

async function packing(env: BenchServer) {
  console.log(`\n1. Packing: 30 experiments of 1 s at --max-concurrent 5 (ideal 6 s)${where(env)}`);
  const stagedRun = (await runStaged(env, 30, 1, 5, 'packing')).timeline;
  const xargsRun = await runXargs(30, 1, 5, 'packing');
  report(
    'staged makespan',
    `${(stagedRun.makespanMs / 1000).toFixed(2)} s = ${(stagedRun.makespanMs / 6000).toFixed(2)}× ideal`,
    '≤ 1.10× ideal',
    [stagedRun.makespanMs],
  );
  report(
    'xargs -P5 makespan',
    `${(xargsRun.makespanMs / 1000).toFixed(2)} s = ${(xargsRun.makespanMs / 6000).toFixed(2)}× ideal`,
    '',
    [xargsRun.makespanMs],
  );
  const overXargs = stagedRun.makespanMs / xargsRun.makespanMs;
  report('staged / xargs', `${overXargs.toFixed(2)}×`, '≤ 1.10×', [overXargs]);
  report('staged max running at once', String(stagedRun.maxOverlap), '= 5', [stagedRun.maxOverlap]);
}

async function throughput(env: BenchServer) {
  console.log(
    `\n2. Throughput and refill: 1,000 trivial experiments at concurrency 20; 4. status latency on it${where(env)}`,
  );
  const { timeline: stagedRun, statusMs } = await runStaged(env, 1000, 0, 20, 'throughput', 5_000);
  const xargsRun = await runXargs(1000, 0, 20, 'throughput');
  const stagedGaps = refillGaps(stagedRun, 20);
  const xargsGaps = refillGaps(xargsRun, 20);
  const perSecond = 1000 / (stagedRun.makespanMs / 1000);
  report('staged throughput', `${perSecond.toFixed(1)} experiments/s`, '≥ 30/s', [perSecond]);
  const xargsPerSecond = 1000 / (xargsRun.makespanMs / 1000);
  report('xargs -P20 throughput', `${xargsPerSecond.toFixed(1)} experiments/s`, '', [xargsPerSecond]);
  const refill = [percentile(stagedGaps, 50), percentile(stagedGaps, 95)];
  report('staged refill p50 / p95', `${refill[0]} / ${refill[1]} ms`, 'p95 ≤ 250 ms', refill);
  const xargsRefill = [percentile(xargsGaps, 50), percentile(xargsGaps, 95)];
  report('xargs refill p50 / p95', `${xargsRefill[0]} / ${xargsRefill[1]} ms`, '', xargsRefill);
  report(
    'status --json (1 process, on the running 1,000 batch)',
    statusMs.map((ms) => `${ms} ms`).join(', '),
    '≤ 1 s',
    statusMs.length ? [percentile(statusMs, 50)] : undefined,
  );
}

async function scaleAndLatency(env: BenchServer) {
  console.log('\n3. Scale: 5,000 trivial experiments in one batch, concurrency 40, and status on it');
  const { dir, journal } = await makeExperiments('scale', 5000, 0);
  const taskQueue = `bench-scale-${Date.now()}`;
  const worker = await startWorker(env.address, taskQueue, 40);
  const batchId = `bench-scale-${Date.now()}`;
  const submitStarted = Date.now();
  const submit = await staged(
    ['submit', '--dir', dir, '--max-concurrent', '40', '--detach', '--batch-id', batchId],
    env.address,
    taskQueue,
    dir,
  );
  const submitMs = Date.now() - submitStarted;
  if (submit.exitCode !== 0) throw new Error(`submit failed: ${submit.stderr}`);

  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const statusTimes = await timeStatus(env.address, taskQueue, dir, batchId);
  await batchSummary(env.client.workflow.getHandle(batchId));
  const completeMs = Date.now() - submitStarted;
  const rss = await peakRssMiB(worker.pid);
  await worker.stop();

  const runIds: string[] = [];
  for await (const run of env.client.workflow.list({ query: `WorkflowId = '${batchId}'` })) runIds.push(run.runId);
  const events = await Promise.all(
    runIds.map(
      async (runId) => (await env.client.workflow.getHandle(batchId, runId).fetchHistory()).events?.length ?? 0,
    ),
  );
  const timeline = await readTimeline(journal);
  report('submit --detach returns after', `${(submitMs / 1000).toFixed(2)} s`, '≤ 3 s');
  report(
    '5,000 complete after',
    `${(completeMs / 1000).toFixed(1)} s (${(5000 / (timeline.makespanMs / 1000)).toFixed(1)} experiments/s)`,
  );
  report('history events per batch run', `max ${Math.max(...events)} over ${events.length} runs`, '< 10,000');
  report('worker peak RSS', `${rss} MiB`, '≤ 250 MB');
  report(
    'status --json (1 process, on the running 5,000 batch)',
    `${statusTimes.map((t) => `${t} ms`).join(', ')}`,
    '≤ 1 s',
  );
}

const PARTS: Record<string, (env: BenchServer) => Promise<void>> = {
  packing,
  throughput,
  scale: scaleAndLatency,
  quota,
};

/** The parts `--cluster` runs on both servers: the others need one worker (scale's RSS, quota's crash). */
const CLUSTER_PARTS = ['packing', 'throughput'];

const clusterMode = process.argv.includes('--cluster');

/** `--only <part>` runs one part; `--quick` skips the 5,000 batch; `--cluster` runs CLUSTER_PARTS. */
function selected(part: string): boolean {
  const only = process.argv.indexOf('--only');
  if (only >= 0) return process.argv[only + 1] === part;
  if (clusterMode) return CLUSTER_PARTS.includes(part);
  return !(part === 'scale' && process.argv.includes('--quick'));
}

/** `a / b` of each number, as `1.23×` (`1.23 / 1.40×` for two). */
function ratio(cluster: number[] | undefined, dev: number[] | undefined): string {
  if (!cluster || !dev || cluster.length !== dev.length) return '';
  return `${cluster.map((value, index) => (value / dev[index]).toFixed(2)).join(' / ')}×`;
}

function printTables(): void {
  if (!clusterMode) {
    console.log('\n| figure | value | target |\n| --- | --- | --- |');
    for (const row of rows) console.log(`| ${row.figure} | ${row.value} | ${row.target} |`);
    return;
  }
  console.log('\n| figure | dev server (1 worker) | cluster (3 workers) | cluster ÷ dev server | target |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const dev of rows.filter((row) => row.server === 'dev server')) {
    const cluster = rows.find((row) => row.server === 'cluster' && row.figure === dev.figure);
    const ratios = ratio(cluster?.numbers, dev.numbers);
    console.log(`| ${dev.figure} | ${dev.value} | ${cluster?.value ?? '—'} | ${ratios} | ${dev.target} |`);
  }
}

async function connectTo(address: string, namespace: string) {
  const connection = await Connection.connect({ address });
  return { connection, client: new Client({ connection, namespace }) };
}

async function main() {
  const only = process.argv.indexOf('--only');
  if (only >= 0 && !(process.argv[only + 1] in PARTS)) {
    throw new Error(`--only takes one of: ${Object.keys(PARTS).join(', ')}`);
  }
  if (clusterMode && only >= 0 && !CLUSTER_PARTS.includes(process.argv[only + 1])) {
    throw new Error(`--cluster runs ${CLUSTER_PARTS.join(' and ')}: --only takes one of them`);
  }
  // Every server started is stopped on the way out, on failure and on Ctrl-C too (the cluster runs detached).
  const cleanups: (() => Promise<unknown>)[] = [];
  // Closed on the way out, but not on Ctrl-C: closing a connection with a call in flight throws from a timer.
  const connections: Connection[] = [];
  // One clean-up, awaited by both the signal handler and the finally below.
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((err) => console.error(err));
    })());
  // `on`, not `once`: execa's exit handler kills this process at once when it sees no other listener.
  let interruptedBy: NodeJS.Signals | undefined;
  const interrupted = (signal: NodeJS.Signals) => {
    if (interruptedBy) return;
    interruptedBy = signal;
    console.error(`\n${signal}: stopping the workers and servers…`);
    killWorkers();
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  try {
    console.log(`staged benchmarks on ${process.arch}, Node ${process.version}, ${new Date().toISOString()}`);
    const server = await startDevServer();
    cleanups.push(() => server.stop());
    const dev = await connectTo(server.address, server.namespace);
    connections.push(dev.connection);
    const envs: BenchServer[] = [{ name: 'dev server', address: server.address, client: dev.client, workers: 1 }];
    if (clusterMode) {
      console.log('\nStarting a Temporal cluster on PostgreSQL (cluster up in a scratch work dir)…');
      const cluster = await startBenchCluster((stop) => cleanups.push(stop));
      connections.push(cluster.connection);
      envs.push(cluster.env);
    }
    for (const [name, part] of Object.entries(PARTS)) {
      if (!selected(name)) continue;
      for (const env of envs) {
        reportFor(env.name);
        await part(env);
      }
    }
  } finally {
    if (!interruptedBy) await Promise.all(connections.map((connection) => connection.close().catch(() => undefined)));
    await cleanUp();
  }
  printTables();
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
