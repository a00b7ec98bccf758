/** Where a cluster started by `cluster up` keeps its files, and the ports it listens on. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceFiles } from '../server/background.js';
import { stagedHome } from '../paths.js';

/** The files of deploy/ that describe the cluster, here and on real machines (docs/cluster.md). */
export const DEPLOY_DIR = fileURLToPath(new URL('../../../deploy/', import.meta.url));
export const DYNAMIC_CONFIG_FILE = path.join(DEPLOY_DIR, 'dynamicconfig', 'staged.yaml');

export type ClusterService = 'postgres' | 'server' | 'ui';

export function clusterHome(workDir: string): string {
  return path.join(stagedHome(workDir), 'cluster');
}

export const clusterLogDir = (workDir: string) => path.join(clusterHome(workDir), 'logs');

export function clusterFiles(workDir: string, service: ClusterService): ServiceFiles {
  return {
    pidFile: path.join(clusterHome(workDir), `${service}.pid`),
    logFile: path.join(clusterLogDir(workDir), `${service}.log`),
  };
}

/** What temporal-sql-tool printed at each `up`. */
export const schemaLogFile = (workDir: string) => path.join(clusterLogDir(workDir), 'schema.log');

export const postgresDataDir = (workDir: string) => path.join(clusterHome(workDir), 'postgres');
/** What `up` started the cluster with: `status` and a second `up` read it. */
export const clusterStateFile = (workDir: string) => path.join(clusterHome(workDir), 'cluster.json');
export const postgresPasswordFile = (workDir: string) => path.join(clusterHome(workDir), 'postgres.password');

/**
 * The Temporal server's ports, in this order from its frontend's gRPC port up: gRPC of frontend,
 * history, matching and worker, the frontend's HTTP API, the four membership ports, Prometheus metrics.
 */
const SERVER_PORT_NAMES = [
  'frontend',
  'history',
  'matching',
  'worker',
  'frontendHttp',
  'frontendMembership',
  'historyMembership',
  'matchingMembership',
  'workerMembership',
  'metrics',
] as const;

type ServerPorts = Record<(typeof SERVER_PORT_NAMES)[number], number>;

export const SERVER_PORT_COUNT = SERVER_PORT_NAMES.length;

/** The server records its membership ports in PostgreSQL as a smallint: one above this fails at start. */
export const MAX_MEMBERSHIP_PORT = 32_767;

export function serverPorts(frontend: number): ServerPorts {
  return Object.fromEntries(SERVER_PORT_NAMES.map((name, offset) => [name, frontend + offset])) as ServerPorts;
}

/** What `up` started, written to cluster.json. */
export interface ClusterState {
  host: string;
  ports: ServerPorts;
  uiPort: number;
  /** Absent when the Web UI could not be built. */
  ui: boolean;
  postgresPort: number;
  postgresDataDir: string;
  namespace: string;
  retentionMs: number;
}

/** How clients reach a host: a server bound to every interface is reached on the loopback. */
export function reachableHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host;
}

export function frontendAddress(state: Pick<ClusterState, 'host' | 'ports'>): string {
  return `${reachableHost(state.host)}:${state.ports.frontend}`;
}

export function uiUrl(state: Pick<ClusterState, 'host' | 'uiPort'>): string {
  return `http://${reachableHost(state.host)}:${state.uiPort}`;
}
