/**
 * A dev server that its starter owns and stops: the one way tests, the Web UI check and the
 * benchmarks start Temporal. Same arguments and readiness check as `submit`'s embedded server
 * (`devServerArgs`, `waitForDevServer`), but in the foreground, on ports of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { devServerArgs, waitForDevServer } from './dev-server.js';
import { ensureSearchAttributes } from './search-attributes.js';
import { findTemporalCli } from './temporal-cli.js';
import { freePort } from './ports.js';

export { freePort };

const STDERR_KEPT_BYTES = 4_096;
const START_ATTEMPTS = 3;
/** util-linux's setpriv: the kernel kills the server when its starter dies, however it dies. */
const SETPRIV = '/usr/bin/setpriv';

interface DevServerProcessOptions {
  /** A free port is chosen when absent. */
  port?: number;
  uiPort?: number;
  metricsPort?: number;
  /** The SQLite file, which outlives the process; in memory when absent. */
  dbFile?: string;
  /** Serves the Web UI on `uiPort`; headless otherwise. */
  ui?: boolean;
  namespace?: string;
  /** Found on this machine (never built) when absent. */
  temporalCli?: string;
  startTimeoutMs?: number;
}

export interface DevServerProcess {
  readonly address: string;
  readonly namespace: string;
  /** The Web UI, when it was asked for. */
  readonly uiUrl: string | undefined;
  /** The server's Prometheus endpoint. */
  readonly metricsUrl: string;
  /** The server process while it runs (the bench reads its CPU time). */
  readonly pid: number | undefined;
  /** Starts it (again: same ports and DB); resolves once it answers, staged's search attributes registered. */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, as a crash would; resolves once it has exited. */
  kill(): Promise<void>;
}

/** The server could not listen on one of its ports: another process took it. */
export class PortTakenError extends Error {}

async function portAnswers(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/** A dev server ready to start: its address is known before it runs (a worker may be started first). */
export async function devServerProcess(options: DevServerProcessOptions = {}): Promise<DevServerProcess> {
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort ?? (await freePort());
  const metricsPort = options.metricsPort ?? (await freePort());
  const namespace = options.namespace ?? 'default';
  const temporalCli = options.temporalCli ?? (await findTemporalCli({ build: false }));
  const args = [
    ...devServerArgs({ port, uiPort, metricsPort, dbFile: options.dbFile }),
    ...(options.ui ? [] : ['--headless']),
  ];
  const [file, fileArgs] = existsSync(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', 'KILL', temporalCli, ...args]]
    : [temporalCli, args];
  const address = `127.0.0.1:${port}`;
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  let child: ChildProcess | undefined;
  let alive = false;
  let exited: Promise<unknown> = Promise.resolve();
  let stderr = '';
  // Seen anywhere in its output: a panic's stack pushes the line that says so out of the tail kept in `stderr`.
  let portTaken = false;

  const running = () => alive;
  const whyExited = () => {
    const output = stderr.trim();
    const how = child?.exitCode ?? child?.signalCode;
    const message = `the dev server at ${address} exited (${how}) before it answered${output ? `: ${output}` : ''}`;
    return portTaken ? new PortTakenError(message) : new Error(message);
  };
  const ended = async () => {
    await exited;
    child = undefined;
  };

  /** One attempt at a time, so that a server that exited is noticed at once. */
  const untilReady = async () => {
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (!running()) throw whyExited();
      try {
        await waitForDevServer(address, namespace, { timeoutMs: 0 });
        // This loop retries; the SDK's retry timers outlive the close below and throw on its shut channel
        const connection = await Connection.connect({ address, connectTimeout: 1_000, interceptors: [] });
        try {
          if (await ensureSearchAttributes(connection, namespace)) return;
        } finally {
          await connection.close();
        }
      } catch {
        // not answering yet
      }
      if (Date.now() > deadline) throw new Error(`no dev server answered at ${address} in ${startTimeoutMs / 1000}s`);
      await delay(250);
    }
  };

  const signalAndWait = async (signal: NodeJS.Signals, timeoutMs: number) => {
    if (!running()) return ended();
    child!.kill(signal);
    await Promise.race([exited, delay(timeoutMs)]);
    if (running()) return;
    await ended();
  };

  const server: DevServerProcess = {
    address,
    namespace,
    uiUrl: options.ui ? `http://localhost:${uiPort}` : undefined,
    metricsUrl: `http://localhost:${metricsPort}/metrics`,
    get pid() {
      return running() ? child?.pid : undefined;
    },
    async start() {
      if (running()) throw new Error(`the dev server at ${address} is already running`);
      if (await portAnswers(port)) throw new PortTakenError(`port ${port} is taken: something answers at ${address}`);
      stderr = '';
      portTaken = false;
      child = spawn(file, fileArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
      alive = true;
      // `once` rejects on 'error' (the CLI could not be started): that is an exit too.
      exited = once(child, 'exit')
        .catch(() => undefined)
        .then(() => (alive = false));
      child.on('error', (err) => (stderr += err.message));
      child.stderr!.on('data', (chunk: Buffer) => {
        const output = stderr + chunk.toString('utf8');
        portTaken ||= /address already in use/.test(output);
        stderr = output.slice(-STDERR_KEPT_BYTES);
      });
      try {
        await untilReady();
      } catch (err) {
        await server.kill();
        throw err;
      }
    },
    async stop(graceMs = 5_000) {
      await signalAndWait('SIGTERM', graceMs);
      await server.kill();
    },
    async kill() {
      await signalAndWait('SIGKILL', 10_000);
    },
  };
  return server;
}

/** Starts a dev server; when its ports were not given and one was taken meanwhile, on other ports. */
export async function startDevServer(options: DevServerProcessOptions = {}): Promise<DevServerProcess> {
  const portsGiven = [options.port, options.uiPort, options.metricsPort].some((port) => port !== undefined);
  for (let attempt = 1; ; attempt++) {
    const server = await devServerProcess(options);
    try {
      await server.start();
      return server;
    } catch (err) {
      if (!(err instanceof PortTakenError) || portsGiven || attempt >= START_ATTEMPTS) throw err;
    }
  }
}
