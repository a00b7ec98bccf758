/** Temporal's dev server (`temporal server start-dev`): a SQLite file, the Web UI, and task-queue priority on. */
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { ServerExitedError } from '../errors.js';
import { stagedHome } from '../paths.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { setRetention } from './retention.js';
import { DEV_SERVER_METRICS_PORT } from './ports.js';

export interface DevServerOptions {
  port: number;
  uiPort: number;
  /** Serves Prometheus metrics at http://localhost:<metricsPort>/metrics. */
  metricsPort: number;
  dbFile: string;
}

export function defaultDevServerOptions(workDir: string): DevServerOptions {
  return {
    port: 7233,
    uiPort: 8233,
    metricsPort: DEV_SERVER_METRICS_PORT,
    dbFile: path.join(stagedHome(workDir), 'temporal.db'),
  };
}

/** Reads of a shard's transfer queue per second: it is read when a task is added, so this bounds a burst. */
export const TRANSFER_QUEUE_READS_PER_SECOND = 1000;

/**
 * Without matching.useNewMatcher, Server 1.29 ignores task-queue priority. One partition per task
 * queue keeps tasks of one priority in the order they were scheduled (with several, a poller takes
 * from whichever partition answers first), so experiments start in order when worker slots are full.
 * The transfer queue (a child's start, every task handed to matching) is read at most 20 times a second
 * per shard by default: each step of an experiment's start then waits up to 50 ms for the next read.
 */
export const DEV_SERVER_DYNAMIC_CONFIG = [
  '--dynamic-config-value',
  'matching.useNewMatcher=true',
  '--dynamic-config-value',
  'matching.numTaskqueueReadPartitions=1',
  '--dynamic-config-value',
  'matching.numTaskqueueWritePartitions=1',
  '--dynamic-config-value',
  `history.transferProcessorMaxPollRPS=${TRANSFER_QUEUE_READS_PER_SECOND}`,
];

/**
 * The SQLite settings of a dev server on a file (docs/reliability.md, "The dev server's SQLite file").
 * The CLI puts each into the DSN; the Go driver (modernc.org/sqlite) runs it as `PRAGMA key=value` on
 * every connection it opens, and the server keeps exactly one (SetMaxOpenConns(1)).
 * - `journal_mode=WAL`: a commit appends its pages to `<file>-wal` and syncs that once, instead of
 *   writing, syncing and deleting a rollback journal and syncing the database (about 4 syncs; 5–8× slower
 *   here). Stored in the file: a file made without it switches on its first open.
 * - `synchronous=FULL`: the WAL is synced before each commit returns, so a write the server has
 *   acknowledged survives a power loss or kernel crash too, not only a crash of the server process.
 */
export const DEV_SERVER_SQLITE_PRAGMAS = ['journal_mode=WAL', 'synchronous=FULL'];

/** Without `dbFile`, the server keeps its data in memory (tests and benchmarks); on a file, in WAL mode. */
export function devServerArgs(options: Omit<DevServerOptions, 'dbFile'> & { dbFile?: string }): string[] {
  return [
    'server',
    'start-dev',
    ...(options.dbFile === undefined
      ? []
      : [
          '--db-filename',
          options.dbFile,
          ...DEV_SERVER_SQLITE_PRAGMAS.flatMap((pragma) => ['--sqlite-pragma', pragma]),
        ]),
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--metrics-port',
    String(options.metricsPort),
    '--log-level',
    'warn',
    ...DEV_SERVER_DYNAMIC_CONFIG,
  ];
}

interface WaitOptions {
  /** The namespace's retention, set once the server answers; unchanged when absent. */
  retentionMs?: number;
  /** Why the server process is gone (its exit and output), or undefined while it lives: then the wait fails at once. */
  exited?: () => string | undefined;
  /** Told what the server is doing while it does not answer yet, every `progressEveryMs`. */
  progress?: (line: string) => void;
  progressEveryMs?: number;
  /** Gives up after this long; without it, waits as long as the server process lives. */
  timeoutMs?: number;
}

const PROGRESS_EVERY_MS = 10_000;

/** What a starting server is doing, as far as its address shows. */
async function startPhase(address: string): Promise<string> {
  const [host, port] = splitAddress(address);
  const listening = await new Promise<boolean>((resolve) => {
    const socket = netConnect(port, host);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
  return listening ? 'listening, its services still starting' : `starting, not yet listening on port ${port}`;
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon).replace(/^\[|\]$/g, ''), Number(address.slice(colon + 1))];
}

/**
 * Waits until a server answers at `address`, then registers staged's search attributes and sets the retention.
 * A server still starting (a busy machine, a first start) is waited for, with `progress` told what it does.
 */
export async function waitForDevServer(
  address: string,
  namespace: string,
  { retentionMs, exited, progress, progressEveryMs = PROGRESS_EVERY_MS, timeoutMs }: WaitOptions = {},
): Promise<void> {
  const startedAt = Date.now();
  let nextProgressAt = startedAt + progressEveryMs;
  let step = 'connecting';
  for (;;) {
    try {
      step = 'connecting';
      // This loop retries; the SDK's retry timers outlive the close below and throw on its shut channel
      const connection = await Connection.connect({ address, connectTimeout: 1_000, interceptors: [] });
      try {
        step = "registering staged's search attributes";
        await ensureSearchAttributes(connection, namespace);
        step = 'setting the retention';
        if (retentionMs !== undefined) await setRetention(connection, namespace, retentionMs);
      } finally {
        await connection.close();
      }
      return;
    } catch (err) {
      const why = exited?.();
      if (why !== undefined) throw new ServerExitedError(why);
      const waited = Date.now() - startedAt;
      if (timeoutMs !== undefined && waited > timeoutMs) {
        throw new Error(`the dev server did not answer at ${address} within ${timeoutMs / 1000}s`, { cause: err });
      }
      if (progress && Date.now() >= nextProgressAt) {
        nextProgressAt += progressEveryMs;
        const doing = step === 'connecting' ? await startPhase(address) : step;
        progress(`[WAIT] the dev server at ${address} is ${doing} (${Math.round(waited / 1000)}s)`);
      }
      await delay(250);
    }
  }
}

/** True when a Temporal server answers at `address`. */
export async function serverAnswers(address: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    // No retry interceptor: a retry it scheduled could fire on the channel a failed connect shut, and throw in a timer
    const connection = await Connection.connect({ address, connectTimeout: timeoutMs, interceptors: [] });
    await connection.close();
    return true;
  } catch {
    return false;
  }
}
