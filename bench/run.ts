/**
 * `npm run bench`: how close staged packs work to the ideal, side by side with `xargs -P`, at scale, and
 * under a quota (bench/quota.ts). Prints figures with their targets; never fails because the machine is slow.
 * Both sides of each comparison run in the same invocation, since this machine is shared and noisy.
 */
import { readFile } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import { execa } from 'execa';
import { batchSummary } from '../src/batch-client/index.js';
import { startDevServer } from '../src/server/dev-server-process.js';
import { report, rows, staged, startWorker, type BenchServer } from './bench-env.js';
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
  const worker = await startWorker(env.address, taskQueue, concurrency);
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
  await worker.stop();
  if (summary.experiments.some((experiment) => experiment.status !== 'completed'))
    throw new Error(`staged ${name}: not all completed`);
  return { timeline: await readTimeline(journal), statusMs };
}

async function runXargs(count: number, seconds: number, concurrency: number, name: string): Promise<Timeline> {
  const { dir, journal } = await makeExperiments(`${name}-xargs`, count, seconds);
  await execa('sh', ['-c', `ls "${dir}"/exp* | xargs -P${concurrency} -I{} env STAGED_EXPERIMENT={} {}`]);
  return readTimeline(journal);
}

async function packing(env: BenchServer) {
  console.log('\n1. Packing: 30 experiments of 1 s at --max-concurrent 5 (ideal 6 s)');
  const stagedRun = (await runStaged(env, 30, 1, 5, 'packing')).timeline;
  const xargsRun = await runXargs(30, 1, 5, 'packing');
  report(
    'staged makespan',
    `${(stagedRun.makespanMs / 1000).toFixed(2)} s = ${(stagedRun.makespanMs / 6000).toFixed(2)}× ideal`,
    '≤ 1.10× ideal',
  );
  report(
    'xargs -P5 makespan',
    `${(xargsRun.makespanMs / 1000).toFixed(2)} s = ${(xargsRun.makespanMs / 6000).toFixed(2)}× ideal`,
  );
  report('staged / xargs', `${(stagedRun.makespanMs / xargsRun.makespanMs).toFixed(2)}×`, '≤ 1.10×');
  report('staged max running at once', String(stagedRun.maxOverlap), '= 5');
}

async function throughput(env: BenchServer) {
  console.log('\n2. Throughput and refill: 1,000 trivial experiments at concurrency 20; 4. status latency on it');
  const { timeline: stagedRun, statusMs } = await runStaged(env, 1000, 0, 20, 'throughput', 5_000);
  const xargsRun = await runXargs(1000, 0, 20, 'throughput');
  const stagedGaps = refillGaps(stagedRun, 20);
  const xargsGaps = refillGaps(xargsRun, 20);
  report('staged throughput', `${(1000 / (stagedRun.makespanMs / 1000)).toFixed(1)} experiments/s`, '≥ 30/s');
  report('xargs -P20 throughput', `${(1000 / (xargsRun.makespanMs / 1000)).toFixed(1)} experiments/s`);
  report('staged refill p50 / p95', `${percentile(stagedGaps, 50)} / ${percentile(stagedGaps, 95)} ms`, 'p95 ≤ 250 ms');
  report('xargs refill p50 / p95', `${percentile(xargsGaps, 50)} / ${percentile(xargsGaps, 95)} ms`);
  report('status --json (1 process, on the running 1,000 batch)', statusMs.map((ms) => `${ms} ms`).join(', '), '≤ 1 s');
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

/** `--only <part>` runs one part; `--quick` skips the 5,000 batch. */
function selected(part: string): boolean {
  const only = process.argv.indexOf('--only');
  if (only >= 0) return process.argv[only + 1] === part;
  return !(part === 'scale' && process.argv.includes('--quick'));
}

async function main() {
  const only = process.argv.indexOf('--only');
  if (only >= 0 && !(process.argv[only + 1] in PARTS)) {
    throw new Error(`--only takes one of: ${Object.keys(PARTS).join(', ')}`);
  }
  const server = await startDevServer();
  try {
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, namespace: server.namespace });
    const env: BenchServer = { address: server.address, client };
    try {
      console.log(`staged benchmarks on ${process.arch}, Node ${process.version}, ${new Date().toISOString()}`);
      for (const [name, part] of Object.entries(PARTS)) if (selected(name)) await part(env);
    } finally {
      await connection.close();
    }
  } finally {
    await server.stop();
  }
  console.log('\n| figure | value | target |\n| --- | --- | --- |');
  for (const row of rows) console.log(`| ${row.figure} | ${row.value} | ${row.target} |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
