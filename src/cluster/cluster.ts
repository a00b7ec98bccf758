/**
 * A Temporal cluster on this machine, as on real ones: PostgreSQL, the schemas set up by
 * temporal-sql-tool, the Temporal server (all four services) from deploy/temporal/staged.yaml, the
 * Web UI server from deploy/ui/staged.yaml, and the namespace with staged's retention and search
 * attributes. Every process runs in the background and outlives `cluster up`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { BadInputError, oneLine } from '../errors.js';
import { runningPidOf, startDetached, stopDetached } from '../server/background.js';
import { findGoBinary } from '../server/go-binary.js';
import { portFree } from '../server/ports.js';
import { registerNamespace } from './namespace.js';
import { TEMPORAL_SERVER, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER } from './binaries.js';
import {
  clusterFiles,
  clusterHome,
  clusterStateFile,
  DEPLOY_DIR,
  DYNAMIC_CONFIG_FILE,
  frontendAddress,
  MAX_MEMBERSHIP_PORT,
  postgresDataDir,
  reachableHost,
  schemaLogFile,
  SERVER_PORT_COUNT,
  serverPorts,
  uiUrl,
  type ClusterService,
  type ClusterState,
} from './layout.js';
import {
  ensureDataDir,
  findPostgres,
  logTail,
  POSTGRES_USER,
  postgresPassword,
  startPostgres,
  stopPostgres,
  type Postgres,
} from './postgres.js';
import { setUpSchemas } from './schema.js';

/** PostgreSQL listens on the loopback only: the Temporal server beside it is its one client. */
const POSTGRES_HOST = '127.0.0.1';
const SERVER_READY_TIMEOUT_MS = 120_000;
const UI_READY_TIMEOUT_MS = 30_000;
const SERVICES: readonly ClusterService[] = ['postgres', 'server', 'ui'];

interface UpOptions {
  host: string;
  port: number;
  uiPort: number;
  postgresPort: number;
  namespace: string;
  retentionMs: number;
  log?: (message: string) => void;
}

export type ServiceStatus = Record<ClusterService, number | undefined>;

export function serviceStatus(workDir: string): ServiceStatus {
  return Object.fromEntries(
    SERVICES.map((service) => [service, runningPidOf(clusterFiles(workDir, service))]),
  ) as ServiceStatus;
}

export async function readClusterState(workDir: string): Promise<ClusterState | undefined> {
  const text = await readFile(clusterStateFile(workDir), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as ClusterState);
}

async function checkPortsFree(host: string, ports: number[], what: string): Promise<void> {
  for (const port of ports) {
    if (!(await portFree(port, host))) throw new BadInputError(`port ${host}:${port} is taken: ${what}`);
  }
}

/** Starts what does not run yet; the cluster that runs keeps its ports (those of cluster.json). */
export async function clusterUp(workDir: string, options: UpOptions): Promise<ClusterState> {
  const log = options.log ?? ((message: string) => console.error(message));
  const running = serviceStatus(workDir);
  const previous = await readClusterState(workDir);
  const keepPrevious = previous && SERVICES.some((service) => running[service] !== undefined);
  const state: ClusterState = keepPrevious
    ? previous
    : {
        host: options.host,
        ports: serverPorts(options.port),
        uiPort: options.uiPort,
        ui: true,
        postgresPort: options.postgresPort,
        postgresDataDir: postgresDataDir(workDir),
        namespace: options.namespace,
        retentionMs: options.retentionMs,
      };
  if (state.ports.workerMembership > MAX_MEMBERSHIP_PORT) {
    throw new BadInputError(
      `--port ${state.ports.frontend} is too high: the server's membership ports ` +
        `(${state.ports.frontendMembership}-${state.ports.workerMembership}) must be at most ${MAX_MEMBERSHIP_PORT}, ` +
        'as PostgreSQL stores them as smallint',
    );
  }
  await mkdir(clusterHome(workDir), { recursive: true });

  const programs = await clusterPrograms(log);
  state.ui = programs.uiServer !== undefined;

  try {
    await startServices(workDir, state, running, programs);
  } catch (err) {
    // What this `up` started goes again: a half-started cluster would hold its ports.
    await stopServices(workDir, (service) => running[service] === undefined);
    throw err;
  }
  await writeFile(clusterStateFile(workDir), `${JSON.stringify(state, null, 2)}\n`);
  return state;
}

interface Programs {
  postgres: Postgres;
  temporalServer: string;
  sqlTool: string;
  /** Absent when it could not be built: the cluster runs without a Web UI. */
  uiServer: string | undefined;
}

/** Finds the cluster's programs, building or installing the missing ones (`cluster prepare`, the first `up`). */
export async function clusterPrograms(log: (message: string) => void): Promise<Programs> {
  const postgres = await findPostgres(log);
  const temporalServer = await findGoBinary(TEMPORAL_SERVER, { log });
  const sqlTool = await findGoBinary(TEMPORAL_SQL_TOOL, { log });
  const uiServer = await findGoBinary(TEMPORAL_UI_SERVER, { log }).catch((err: Error) => {
    log(`[WARN] no Web UI: ${oneLine(err)}`);
    return undefined;
  });
  return { postgres, temporalServer, sqlTool, uiServer };
}

async function startServices(workDir: string, state: ClusterState, running: ServiceStatus, programs: Programs) {
  if (running.postgres === undefined) {
    await checkPortsFree(POSTGRES_HOST, [state.postgresPort], 'PostgreSQL needs it (--postgres-port)');
    await ensureDataDir(programs.postgres, workDir);
  }
  await startPostgres(programs.postgres, workDir, { host: POSTGRES_HOST, port: state.postgresPort });
  const password = await postgresPassword(workDir);

  if (running.server === undefined) {
    const ports = Object.values(state.ports);
    await checkPortsFree(state.host, ports, `the Temporal server needs ${SERVER_PORT_COUNT} ports from --port`);
    const target = { host: POSTGRES_HOST, port: state.postgresPort, user: POSTGRES_USER, password };
    await setUpSchemas(programs.sqlTool, target, schemaLogFile(workDir));
    startDetached(clusterFiles(workDir, 'server'), programs.temporalServer, serverArgs(), {
      cwd: workDir,
      env: serverEnv(state, password),
    });
  }
  await waitForServer(workDir, state);

  if (programs.uiServer && running.ui === undefined) {
    await checkPortsFree(state.host, [state.uiPort], 'the Web UI needs it (--ui-port)');
    startDetached(clusterFiles(workDir, 'ui'), programs.uiServer, uiArgs(), { cwd: workDir, env: uiEnv(state) });
  }
  if (programs.uiServer) await waitForUi(workDir, state);
}

function uiArgs(): string[] {
  return ['--root', DEPLOY_DIR, '--config', 'ui', '--env', 'staged', 'start'];
}

/** What deploy/ui/staged.yaml reads. */
function uiEnv(state: ClusterState): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: frontendAddress(state),
    TEMPORAL_UI_HOST: state.host,
    TEMPORAL_UI_PORT: String(state.uiPort),
    TEMPORAL_DEFAULT_NAMESPACE: state.namespace,
  };
}

function serverArgs(): string[] {
  return ['--root', DEPLOY_DIR, '--config', 'temporal', '--env', 'staged', '--allow-no-auth', 'start'];
}

/** What deploy/temporal/staged.yaml reads. */
function serverEnv(state: ClusterState, password: string): NodeJS.ProcessEnv {
  const { ports } = state;
  return {
    TEMPORAL_BIND_IP: state.host,
    TEMPORAL_BROADCAST_ADDRESS: reachableHost(state.host),
    TEMPORAL_FRONTEND_PORT: String(ports.frontend),
    TEMPORAL_HISTORY_PORT: String(ports.history),
    TEMPORAL_MATCHING_PORT: String(ports.matching),
    TEMPORAL_WORKER_PORT: String(ports.worker),
    TEMPORAL_FRONTEND_HTTP_PORT: String(ports.frontendHttp),
    TEMPORAL_FRONTEND_MEMBERSHIP_PORT: String(ports.frontendMembership),
    TEMPORAL_HISTORY_MEMBERSHIP_PORT: String(ports.historyMembership),
    TEMPORAL_MATCHING_MEMBERSHIP_PORT: String(ports.matchingMembership),
    TEMPORAL_WORKER_MEMBERSHIP_PORT: String(ports.workerMembership),
    TEMPORAL_METRICS_PORT: String(ports.metrics),
    POSTGRES_HOST,
    POSTGRES_PORT: String(state.postgresPort),
    POSTGRES_USER,
    POSTGRES_PWD: password,
    DYNAMIC_CONFIG_FILE_PATH: DYNAMIC_CONFIG_FILE,
  };
}

/** Until the frontend answers and the namespace is ready for workers, or the server has exited. */
async function waitForServer(workDir: string, state: ClusterState): Promise<void> {
  const files = clusterFiles(workDir, 'server');
  const deadline = Date.now() + SERVER_READY_TIMEOUT_MS;
  let lastError: unknown;
  for (;;) {
    if (runningPidOf(files) === undefined) {
      throw new Error(`the Temporal server exited at start: see ${files.logFile}\n${await logTail(files.logFile)}`);
    }
    try {
      // This loop retries; the SDK's retry timers outlive the close below and throw on its shut channel
      const connection = await Connection.connect({
        address: frontendAddress(state),
        connectTimeout: 2_000,
        interceptors: [],
      });
      try {
        await registerNamespace(connection, state.namespace, state.retentionMs);
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the Temporal server did not get ready in ${SERVER_READY_TIMEOUT_MS / 1000} s (${oneLine(lastError)}): ` +
          `see ${files.logFile}`,
      );
    }
    await delay(500);
  }
}

async function waitForUi(workDir: string, state: ClusterState): Promise<void> {
  const files = clusterFiles(workDir, 'ui');
  const deadline = Date.now() + UI_READY_TIMEOUT_MS;
  for (;;) {
    if (runningPidOf(files) === undefined) {
      throw new Error(`the Web UI server exited at start: see ${files.logFile}\n${await logTail(files.logFile)}`);
    }
    const response = await fetch(uiUrl(state), { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    if (response?.ok) return;
    if (Date.now() > deadline) throw new Error(`the Web UI did not answer at ${uiUrl(state)}: see ${files.logFile}`);
    await delay(250);
  }
}

/** Stops the Web UI, then the server, then PostgreSQL; the services that were running. */
export function clusterDown(workDir: string): Promise<ClusterService[]> {
  return stopServices(workDir, () => true);
}

async function stopServices(workDir: string, which: (service: ClusterService) => boolean): Promise<ClusterService[]> {
  const stopped: ClusterService[] = [];
  if (which('ui') && (await stopDetached(clusterFiles(workDir, 'ui')))) stopped.push('ui');
  const server = clusterFiles(workDir, 'server');
  if (which('server') && (await stopDetached(server, { graceMs: 20_000 }))) stopped.push('server');
  if (which('postgres') && (await stopPostgres(workDir))) stopped.push('postgres');
  return stopped;
}
