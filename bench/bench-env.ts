/** What every bench part shares: the server, the figures table, worker processes and the CLI. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { workerCommand, workerEnvironment } from '../src/cli/worker-command.js';

/** The staged a column runs: this checkout's build, or another's (`--compare <dir>`, for before/after in one run). */
export interface StagedInstall {
  /** Its CLI script. */
  cli: string;
  /** The node arguments of its worker process. */
  workerCommand: (args: string[]) => string[];
  /** What its worker's environment gets (none from an install before it set any). */
  workerEnvironment: () => Record<string, string>;
}

const THIS_INSTALL: StagedInstall = {
  cli: fileURLToPath(new URL('../src/client.js', import.meta.url)),
  workerCommand,
  workerEnvironment,
};

/** The build of another checkout of staged (after `npm ci` there): its CLI and its worker command. */
export async function installAt(dir: string): Promise<StagedInstall> {
  const module = (await import(path.resolve(dir, 'dist', 'src', 'cli', 'worker-command.js'))) as Pick<
    StagedInstall,
    'workerCommand'
  > &
    Partial<Pick<StagedInstall, 'workerEnvironment'>>;
  return {
    cli: path.resolve(dir, 'dist', 'src', 'client.js'),
    workerCommand: module.workerCommand,
    workerEnvironment: module.workerEnvironment ?? (() => ({})),
  };
}

export interface BenchServer {
  /** Names the server in the figures: `dev server` or `cluster`. */
  name: string;
  address: string;
  client: Client;
  /** How many worker processes share a batch's slots (startWorkers): 1 beside the dev server, 3 on the cluster. */
  workers: number;
  /** The server's process on this machine, when the bench started it (its CPU time is measured). */
  serverPid?: () => number | undefined;
  /** The staged it runs: this checkout's unless given. */
  install?: StagedInstall;
}

interface Row {
  /** The server it was measured on (BenchServer.name). */
  server: string;
  figure: string;
  value: string;
  target: string;
  /** The value's numbers, for the ratios of `--cluster` (cluster ÷ dev server). */
  numbers?: number[];
}
export const rows: Row[] = [];
let reportingFor = 'dev server';
/** The server the next figures are measured on. */
export function reportFor(server: string): void {
  reportingFor = server;
}
export const report = (figure: string, value: string, target = '', numbers?: number[]) => {
  rows.push({ server: reportingFor, figure, value, target, numbers });
  console.log(`  ${figure}: ${value}${target ? `   (target ${target})` : ''}`);
};

export interface BenchWorker {
  pid: number;
  stop: () => Promise<unknown>;
  /** SIGKILL, as a crash: its runs live on under their keepers. */
  crash: () => Promise<unknown>;
}

/** Worker processes started and not yet exited: killWorkers() stops them on Ctrl-C. */
const live = new Set<{ kill: (signal: NodeJS.Signals) => unknown }>();

/** SIGKILLs every worker process still running: SIGTERM would wait for a server that is going away. */
export function killWorkers(): void {
  for (const worker of live) worker.kill('SIGKILL');
}

export async function startWorker(
  address: string,
  taskQueue: string,
  slots: number,
  extraArgs: string[] = [],
  install = THIS_INSTALL,
): Promise<BenchWorker> {
  const args = ['--slots', String(slots), '--allow-dir', tmpdir(), ...extraArgs];
  const worker = execa(process.execPath, install.workerCommand(args), {
    env: {
      TEMPORAL_ADDRESS: address,
      STAGED_TASK_QUEUE: taskQueue,
      STAGED_LOG_LEVEL: 'WARN',
      ...install.workerEnvironment(),
    },
    reject: false,
    buffer: false,
    stdout: 'pipe',
    stderr: 'ignore',
  });
  live.add(worker);
  void worker.finally(() => live.delete(worker));
  await new Promise<void>((resolve) =>
    worker.stdout.on('data', (chunk: Buffer) => chunk.includes('staged worker:') && resolve()),
  );
  worker.stdout.resume();
  return {
    pid: worker.pid!,
    stop: async () => (worker.kill('SIGTERM'), await worker),
    crash: async () => (worker.kill('SIGKILL'), await worker),
  };
}

/**
 * The workers of one batch on `env`: one worker with all the slots, or (the cluster) `env.workers`
 * processes standing for as many machines, each with a machine id and runs directory of its own and an equal
 * share of the slots, so that the batch's cap needs all of them.
 */
export async function startWorkers(env: BenchServer, taskQueue: string, slots: number): Promise<BenchWorker[]> {
  if (env.workers === 1) return [await startWorker(env.address, taskQueue, slots, [], env.install)];
  const runsRoot = await mkdtemp(path.join(tmpdir(), `staged-bench-runs-`));
  const share = Math.ceil(slots / env.workers);
  return Promise.all(
    Array.from({ length: env.workers }, (_, index) =>
      startWorker(
        env.address,
        taskQueue,
        share,
        [
          '--machine-id',
          `${taskQueue}-machine-${index + 1}`,
          '--runs-dir',
          path.join(runsRoot, `machine-${index + 1}`),
        ],
        env.install,
      ),
    ),
  );
}

export function staged(args: string[], address: string, taskQueue: string, cwd: string, install = THIS_INSTALL) {
  return execa(process.execPath, [install.cli, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}
