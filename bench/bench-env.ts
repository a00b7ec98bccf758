/** What every bench part shares: the server, the figures table, a worker process and the CLI. */
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { workerCommand } from '../src/worker-process.js';

const CLI = fileURLToPath(new URL('../src/client.js', import.meta.url));

export interface BenchServer {
  address: string;
  client: Client;
}

interface Row {
  figure: string;
  value: string;
  target: string;
}
export const rows: Row[] = [];
export const report = (figure: string, value: string, target = '') => {
  rows.push({ figure, value, target });
  console.log(`  ${figure}: ${value}${target ? `   (target ${target})` : ''}`);
};

export interface BenchWorker {
  pid: number;
  stop: () => Promise<unknown>;
  /** SIGKILL, as a crash: its runs live on under their keepers. */
  crash: () => Promise<unknown>;
}

export async function startWorker(
  address: string,
  taskQueue: string,
  slots: number,
  extraArgs: string[] = [],
): Promise<BenchWorker> {
  const args = ['--slots', String(slots), '--allow-dir', tmpdir(), ...extraArgs];
  const worker = execa(process.execPath, workerCommand(args), {
    env: { TEMPORAL_ADDRESS: address, STAGED_TASK_QUEUE: taskQueue, STAGED_LOG_LEVEL: 'WARN' },
    reject: false,
    buffer: false,
    stdout: 'pipe',
    stderr: 'ignore',
  });
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

export function staged(args: string[], address: string, taskQueue: string, cwd: string) {
  return execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}
