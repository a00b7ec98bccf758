/**
 * `npm run bench`: staged as users run it (the embedded default: a dev server on a SQLite file, with the
 * arguments `submit` uses) beside staged on SQLite in memory and beside peers running the very same
 * scripts: `tsp` (task-spooler) and `xargs -P` always, Slurm (default and tuned) with `--peers slurm`.
 * Every figure comes from the scripts' own stamps; all columns run in one invocation, one after the other,
 * since this machine is shared and noisy. Prints figures, ratios and the issue's targets; never fails
 * because the machine is slow. `--cluster` adds a PostgreSQL cluster with three workers (bench/cluster.ts)
 * as a further column for the parts it runs.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { batchSummary } from '../src/batch-client/index.js';
import { startDevServer, type DevServerProcess } from '../src/server/dev-server-process.js';
import {
  killWorkers,
  report,
  reportFor,
  rows,
  installAt,
  staged,
  startWorker,
  startWorkers,
  type BenchServer,
  type StagedInstall,
} from './bench-env.js';
import { startBenchCluster } from './cluster.js';
import { quota } from './quota.js';
import { quotaAgent } from './quota-agent.js';
import { quotaRecovery } from './quota-recovery.js';
import { slurmPeer } from './peers/slurm.js';
import type { BenchSystem } from './peers/system.js';
import { startTsp } from './peers/tsp.js';
import { xargs } from './peers/xargs.js';
import { makeExperiments, percentile, readTimeline, refillGaps, type Timeline } from './timeline.js';

async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024);
}

/** A process's CPU time in ms: its own and its waited-for children's (a worker's keepers and their scripts). */
async function cpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  return (await ownCpuMs(pid)) + (await childrenCpuMs(pid));
}

/** Its own CPU and that of the children it collected, in ms. */
async function ownCpuMs(pid: number): Promise<number> {
  const fields = await statFields(pid);
  // utime, stime, cutime, cstime: fields 14-17 of proc(5), 11-14 after the command's name and state
  const ticks = fields.slice(11, 15).reduce((sum, field) => sum + Number(field), 0);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** Children still running count too: a worker's keeper launcher, whose keepers it collects, lives as long as it. */
async function childrenCpuMs(pid: number): Promise<number> {
  let sum = 0;
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = await statFields(Number(entry));
    if (Number(fields[1]) === pid) sum += await ownCpuMs(Number(entry)); // fields[1]: its parent's pid
  }
  return sum;
}

async function statFields(pid: number): Promise<string[]> {
  const stat = await readFile(`/proc/${pid}/stat`, 'latin1').catch(() => '');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
/** `getconf CLK_TCK` on Linux. */
const CLOCK_TICKS = 100;

/** Busy CPU time of the whole machine in ms (every core), from /proc/stat. */
async function machineBusyMs(): Promise<number> {
  const [cpuLine] = (await readFile('/proc/stat', 'latin1')).split('\n');
  const [user, nice, system, , , irq, softirq, steal] = cpuLine.split(/\s+/).slice(1).map(Number);
  return ((user + nice + system + irq + softirq + steal) * 1000) / CLOCK_TICKS;
}

/** Times `status --json` a few times on a running batch: one CLI process each, as a user runs it. */
async function timeStatus(
  address: string,
  taskQueue: string,
  cwd: string,
  batchId: string,
  install?: StagedInstall,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    const status = await staged(['status', batchId, '--json'], address, taskQueue, cwd, install);
    if (status.exitCode === 0) times.push(Date.now() - started);
  }
  return times;
}

interface StagedRun {
  timeline: Timeline;
  /** `status --json` times on the running batch, when asked for. */
  statusMs: number[];
  /** CPU per experiment, from submit to the batch's end. */
  cpu: { serverMs: number; workersMs: number };
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
  const cpuOf = async () => ({
    serverMs: await cpuMs(env.serverPid?.()),
    workersMs: (await Promise.all(workers.map((worker) => cpuMs(worker.pid)))).reduce((a, b) => a + b, 0),
  });
  const cpuBefore = await cpuOf();
  const submit = await staged(
    ['submit', '--dir', dir, '--max-concurrent', String(concurrency), '--detach', '--batch-id', batchId],
    env.address,
    taskQueue,
    dir,
    env.install,
  );
  if (submit.exitCode !== 0) throw new Error(`staged ${name} failed: ${submit.stderr}`);
  let statusMs: number[] = [];
  if (timeStatusAfterMs !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, timeStatusAfterMs));
    statusMs = await timeStatus(env.address, taskQueue, dir, batchId, env.install);
  }
  const summary = await batchSummary(env.client.workflow.getHandle(batchId));
  const cpuAfter = await cpuOf();
  await Promise.all(workers.map((worker) => worker.stop()));
  if (summary.experiments.some((experiment) => experiment.status !== 'completed'))
    throw new Error(`staged ${name}: not all completed`);
  const perExperiment = (key: 'serverMs' | 'workersMs') => Math.round((cpuAfter[key] - cpuBefore[key]) / count);
  const cpu = { serverMs: perExperiment('serverMs'), workersMs: perExperiment('workersMs') };
  return { timeline: await readTimeline(journal), statusMs, cpu };
}

/** staged on `env` as a column: submit --detach and a worker process, as a user runs it. */
function stagedSystem(column: string, env: BenchServer): BenchSystem {
  return {
    column,
    server: env,
    run: (name, count, seconds, concurrency, timeStatusAfterMs) =>
      runStaged(env, count, seconds, concurrency, name, timeStatusAfterMs),
  };
}

/** `--trivial <count>`: the throughput batch's size (1,000 unless given), the same for every column. */
const TRIVIAL = Number(argValue('--trivial') ?? 1000);
/** `--scale <count>`: the scale part's batch size (5,000 unless given). */
const SCALE = Number(argValue('--scale') ?? 5000);
const SCALE_TEXT = SCALE.toLocaleString('en');

/** The figures every column measures: one row each in the table. */
const FIGURE = {
  packing: 'packing: 30 × 1 s at concurrency 5, makespan (ideal 6 s)',
  maxRunning: 'packing: most running at once',
  throughput: `throughput: ${TRIVIAL.toLocaleString('en')} trivial at concurrency 20`,
  refill: 'refill p50 / p95 at concurrency 20',
  status: `status --json on the running ${TRIVIAL.toLocaleString('en')} batch`,
  cpu: 'CPU per trivial experiment: server + worker (keepers, scripts); the machine',
  idleRefill: 'idle refill p50 / p95: 10 × 0 s at concurrency 1',
  rss: `worker peak RSS (${SCALE_TEXT} batch)`,
};

async function packing(system: BenchSystem) {
  const { timeline } = await system.run('packing', 30, 1, 5);
  const overIdeal = timeline.makespanMs / 6000;
  report(
    FIGURE.packing,
    `${(timeline.makespanMs / 1000).toFixed(2)} s = ${overIdeal.toFixed(2)}× ideal`,
    '≤ 1.15× ideal',
    [overIdeal],
  );
  report(FIGURE.maxRunning, String(timeline.maxOverlap), '= 5', [timeline.maxOverlap]);
}

async function throughput(system: BenchSystem) {
  const machineBefore = await machineBusyMs();
  const { timeline, statusMs, cpu } = await system.run('throughput', TRIVIAL, 0, 20, system.server ? 5_000 : undefined);
  const perSecond = TRIVIAL / (timeline.makespanMs / 1000);
  report(FIGURE.throughput, `${perSecond.toFixed(1)}/s`, '≥ 2× Slurm tuned', [perSecond]);
  const machineMs = Math.round(((await machineBusyMs()) - machineBefore) / TRIVIAL);
  const all = cpu && cpu.serverMs + cpu.workersMs;
  const split = cpu ? `${cpu.serverMs} + ${cpu.workersMs} = ${all} ms; ` : '';
  report(FIGURE.cpu, `${split}machine ${machineMs} ms`, '≤ 100 ms', [all ?? machineMs, machineMs]);
  const gaps = refillGaps(timeline, 20);
  const refill = [percentile(gaps, 50), percentile(gaps, 95)];
  report(FIGURE.refill, `${refill[0]} / ${refill[1]} ms`, 'p50 ≤ ½ Slurm tuned', refill);
  if (statusMs)
    report(
      FIGURE.status,
      statusMs.map((ms) => `${ms} ms`).join(', '),
      '≤ 0.5 s',
      statusMs.length ? [percentile(statusMs, 50)] : undefined,
    );
}

/** A slot's refill when nothing else runs: from one experiment's end stamp to the next one's start stamp. */
async function idleRefill(system: BenchSystem) {
  const { timeline } = await system.run('idle', 10, 0, 1);
  const gaps = refillGaps(timeline, 1);
  const refill = [percentile(gaps, 50), percentile(gaps, 95)];
  report(FIGURE.idleRefill, `${refill[0]} / ${refill[1]} ms`, 'p50 ≤ 100 ms', refill);
}

async function scaleAndLatency(system: BenchSystem) {
  const env = system.server!;
  const { dir, journal } = await makeExperiments('scale', SCALE, 0);
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
  report(`submit --detach returns after (${SCALE_TEXT} batch)`, `${(submitMs / 1000).toFixed(2)} s`, '≤ 3 s', [
    submitMs,
  ]);
  report(
    `${SCALE_TEXT} complete after`,
    `${(completeMs / 1000).toFixed(1)} s (${(SCALE / (timeline.makespanMs / 1000)).toFixed(1)} experiments/s)`,
    '',
    [completeMs],
  );
  report('history events per batch run', `max ${Math.max(...events)} over ${events.length} runs`, '< 10,000');
  report(FIGURE.rss, `${rss} MiB`, '≤ 200 MB', [rss]);
  report(
    `status --json (1 process, on the running ${SCALE_TEXT} batch)`,
    `${statusTimes.map((t) => `${t} ms`).join(', ')}`,
    '≤ 1 s',
    statusTimes.length ? [percentile(statusTimes, 50)] : undefined,
  );
}

interface Part {
  title: string;
  measure: (system: BenchSystem) => Promise<void>;
  /** Which columns it runs on: every one, staged's servers, or the default (file DB) alone. */
  on: 'all' | 'staged' | 'default';
}

const PARTS: Record<string, Part> = {
  packing: { title: '1. Packing: 30 experiments of 1 s at concurrency 5 (ideal 6 s)', measure: packing, on: 'all' },
  throughput: {
    title: `2. Throughput and refill: ${TRIVIAL} trivial experiments at concurrency 20; status on staged's batch`,
    measure: throughput,
    on: 'all',
  },
  idle: { title: '3. Idle refill: 10 trivial experiments one at a time', measure: idleRefill, on: 'all' },
  scale: {
    title: `4. Scale: ${SCALE_TEXT} trivial experiments in one batch, concurrency 40, and status on it`,
    measure: scaleAndLatency,
    on: 'staged',
  },
  quota: {
    title: '5. Quota (bench/quota.ts), on the default only',
    measure: (s) => quota(s.server!),
    on: 'default',
  },
  'quota-agent': {
    title:
      '6. Quota agent: two workers, restarts, curl, a per-second limit (bench/quota-agent.ts), on the default only',
    measure: (s) => quotaAgent(s.server!),
    on: 'default',
  },
  'quota-recovery': {
    title: '7. Quota recovery: a real limit half the declared one, then the next batch (bench/quota-recovery.ts)',
    measure: (s) => quotaRecovery(s.server!),
    on: 'default',
  },
};

/** The parts `--cluster` runs on every column: the others need one worker (scale's RSS, quota's crash). */
const CLUSTER_PARTS = ['packing', 'throughput', 'idle'];

const clusterMode = process.argv.includes('--cluster');

function argValue(flag: string): string | undefined {
  const index = process.argv.indexOf(flag);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

/** `--peers slurm` (comma-separated) adds those peers; tsp and xargs always run. */
const extraPeers = (argValue('--peers') ?? '').split(',').filter(Boolean);
/** `--compare <dir>`: another checkout's staged (built there), a column on the file DB: before/after in one run. */
const compareDir = argValue('--compare');

/** The parts `--only a,b` names. */
const onlyParts = () => argValue('--only')?.split(',');

/** `--only <part>[,<part>…]` runs those parts; `--quick` skips the 5,000 batch; `--cluster` runs CLUSTER_PARTS. */
function selected(part: string): boolean {
  const only = onlyParts();
  if (only !== undefined) return only.includes(part);
  if (clusterMode) return CLUSTER_PARTS.includes(part);
  return !(part === 'scale' && process.argv.includes('--quick'));
}

/** `a / b` of each number, as `1.23×` (`1.23 / 1.40×` for two). */
function ratio(a: number[] | undefined, b: number[] | undefined): string {
  if (!a || !b || a.length !== b.length) return '';
  return `${a.map((value, index) => (value / b[index]).toFixed(2)).join(' / ')}×`;
}

const rowOf = (column: string, figure: string) => rows.find((row) => row.server === column && row.figure === figure);

/**
 * One row per figure, one column per system in the order they ran, then each of `ratioColumns` ÷ the first
 * column (the default), then the target.
 */
function printTable(columns: string[], ratioColumns: string[]): void {
  const [base] = columns;
  const figures = [...new Set(rows.map((row) => row.figure))];
  const header = ['figure', ...columns, ...ratioColumns.map((column) => `${column} ÷ ${base}`), 'target'];
  console.log(`\n| ${header.join(' | ')} |\n|${' --- |'.repeat(header.length)}`);
  for (const figure of figures) {
    const cells = columns.map((column) => rowOf(column, figure)?.value ?? '—');
    const ratios = ratioColumns.map((column) => ratio(rowOf(column, figure)?.numbers, rowOf(base, figure)?.numbers));
    const target = rows.find((row) => row.figure === figure)?.target ?? '';
    console.log(`| ${[figure, ...cells, ...ratios, target].join(' | ')} |`);
  }
}

/** The issue's targets, each from this run's figures: measured, the target, and whether it is met. */
function printTargets(defaultColumn: string, peerColumns: { tsp?: string; slurmTuned?: string }): void {
  const first = (column: string | undefined, figure: string) =>
    column === undefined ? undefined : rowOf(column, figure)?.numbers?.[0];
  const perSecond = first(defaultColumn, FIGURE.throughput);
  const over = (peer: string | undefined) => {
    const theirs = first(peer, FIGURE.throughput);
    return perSecond !== undefined && theirs !== undefined ? perSecond / theirs : undefined;
  };
  const slurmTunedRefill = first(peerColumns.slurmTuned, FIGURE.refill);
  const refill = first(defaultColumn, FIGURE.refill);
  const targets: [string, number | undefined, string, (value: number) => boolean, (value: number) => string][] = [
    ['CPU per trivial experiment', first(defaultColumn, FIGURE.cpu), '≤ 100 ms', (v) => v <= 100, (v) => `${v} ms`],
    ['throughput ÷ Slurm tuned', over(peerColumns.slurmTuned), '≥ 2×', (v) => v >= 2, (v) => `${v.toFixed(2)}×`],
    ['throughput ÷ tsp', over(peerColumns.tsp), '(a local queue)', () => true, (v) => `${v.toFixed(2)}×`],
    [
      'refill p50 at concurrency 20 ÷ Slurm tuned',
      refill !== undefined && slurmTunedRefill ? refill / slurmTunedRefill : undefined,
      '≤ 0.5×',
      (v) => v <= 0.5,
      (v) => `${v.toFixed(2)}× (${refill} ms)`,
    ],
    ['idle refill p50', first(defaultColumn, FIGURE.idleRefill), '≤ 100 ms', (v) => v <= 100, (v) => `${v} ms`],
    [
      'packing makespan × ideal',
      first(defaultColumn, FIGURE.packing),
      '≤ 1.15×',
      (v) => v <= 1.15,
      (v) => `${v.toFixed(2)}×`,
    ],
    [
      'status --json p50, 1,000 batch',
      first(defaultColumn, FIGURE.status),
      '≤ 0.5 s',
      (v) => v <= 500,
      (v) => `${v} ms`,
    ],
    [
      'worker peak RSS, 5,000 batch',
      first(defaultColumn, FIGURE.rss),
      '≤ 200 MB',
      (v) => v * 1.048576 <= 200,
      (v) => `${v} MiB`,
    ],
  ];
  console.log(`\n| issue 22 target, on ${defaultColumn} | measured | target | met |\n| --- | --- | --- | --- |`);
  for (const [name, value, target, met, show] of targets) {
    const verdict = value === undefined ? '' : target.startsWith('(') ? '' : met(value) ? 'yes' : 'no';
    console.log(`| ${name} | ${value === undefined ? 'not measured' : show(value)} | ${target} | ${verdict} |`);
  }
}

async function connectTo(address: string, namespace: string) {
  const connection = await Connection.connect({ address });
  return { connection, client: new Client({ connection, namespace }) };
}

const loadAverage = () =>
  loadavg()
    .map((load) => load.toFixed(2))
    .join(' / ');

async function main() {
  const only = onlyParts();
  if (only?.some((part) => !(part in PARTS))) {
    throw new Error(`--only takes parts among: ${Object.keys(PARTS).join(', ')} (comma-separated)`);
  }
  if (clusterMode && only?.some((part) => !CLUSTER_PARTS.includes(part))) {
    throw new Error(`--cluster runs ${CLUSTER_PARTS.join(', ')}: --only takes parts among them`);
  }
  const unknownPeer = extraPeers.find((peer) => peer !== 'slurm' && peer !== 'slurm-tuned');
  if (unknownPeer) throw new Error(`--peers takes: slurm, slurm-tuned (not ${unknownPeer})`);
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
    console.error(`\n${signal}: stopping the workers, servers and peers…`);
    killWorkers();
    void cleanUp().finally(() => process.exit(130));
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  const columns: BenchSystem[] = [];
  const peerColumns: { tsp?: string; slurmTuned?: string } = {};
  try {
    console.log(
      `staged benchmarks on ${process.arch}, ${cpus().length} CPUs, Node ${process.version}, ` +
        `${new Date().toISOString()}, load average ${loadAverage()}`,
    );
    // The embedded default first: the dev server on a SQLite file with `submit`'s arguments (devServerArgs).
    const dbDir = await mkdtemp(path.join(tmpdir(), 'staged-bench-filedb-'));
    cleanups.push(() => rm(dbDir, { recursive: true, force: true }));
    const fileServer = await startDevServer({ dbFile: path.join(dbDir, 'temporal.db') });
    cleanups.push(() => fileServer.stop());
    const servers: [string, DevServerProcess][] = [['staged file DB', fileServer]];
    if (!process.argv.includes('--no-memory')) {
      const memoryServer = await startDevServer();
      cleanups.push(() => memoryServer.stop());
      servers.push(['staged in-memory', memoryServer]);
    }
    for (const [column, server] of servers) {
      const { connection, client } = await connectTo(server.address, server.namespace);
      connections.push(connection);
      columns.push(
        stagedSystem(column, {
          name: column,
          address: server.address,
          client,
          workers: 1,
          serverPid: () => server.pid,
        }),
      );
    }
    if (compareDir) {
      const { connection, client } = await connectTo(fileServer.address, fileServer.namespace);
      connections.push(connection);
      const column = `staged file DB, ${path.basename(path.resolve(compareDir))}`;
      const install = await installAt(compareDir);
      columns.push(
        stagedSystem(column, {
          name: column,
          address: fileServer.address,
          client,
          workers: 1,
          install,
          serverPid: () => fileServer.pid,
        }),
      );
    }
    if (clusterMode) {
      console.log('\nStarting a Temporal cluster on PostgreSQL (cluster up in a scratch work dir)…');
      const cluster = await startBenchCluster((stop) => cleanups.push(stop));
      connections.push(cluster.connection);
      columns.push(stagedSystem(`staged cluster (${cluster.env.workers} workers)`, cluster.env));
    }
    console.log('\nPeers:');
    const tsp = await startTsp((stop) => cleanups.push(stop));
    if (tsp) {
      columns.push(tsp);
      peerColumns.tsp = tsp.column;
    }
    const slurmSetups = extraPeers.includes('slurm') ? [false, true] : extraPeers.includes('slurm-tuned') ? [true] : [];
    for (const tuned of slurmSetups) {
      const slurm = await slurmPeer(tuned, (stop) => cleanups.push(stop));
      if (slurm) columns.push(slurm);
      if (slurm && tuned) peerColumns.slurmTuned = slurm.column;
    }
    columns.push(xargs);
    for (const [name, part] of Object.entries(PARTS)) {
      if (!selected(name)) continue;
      console.log(`\n${part.title}`);
      const on = columns.filter((system, index) =>
        part.on === 'all' ? true : part.on === 'staged' ? system.server !== undefined : index === 0,
      );
      for (const system of on) {
        console.log(` ${system.column}:`);
        reportFor(system.column);
        try {
          await part.measure(system);
        } catch (err) {
          // A peer that fails is reported, not fatal: staged's own figures still count.
          if (system.server) throw err;
          console.log(`  failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
  } finally {
    if (!interruptedBy) await Promise.all(connections.map((connection) => connection.close().catch(() => undefined)));
    await cleanUp();
  }
  console.log(`\nDone at ${new Date().toISOString()}, load average ${loadAverage()}`);
  const stagedColumns = columns.filter((system) => system.server).map((system) => system.column);
  printTable(
    columns.map((system) => system.column),
    stagedColumns.slice(1),
  );
  printTargets(columns[0].column, peerColumns);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
