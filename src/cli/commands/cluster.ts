/** `cluster up|down|status`: a Temporal cluster on PostgreSQL on this machine, in the background (docs/cluster.md). */
import {
  clusterDown,
  clusterPrograms,
  clusterUp,
  readClusterState,
  serviceStatus,
  type ServiceStatus,
} from '../../cluster/cluster.js';
import {
  clusterHome,
  clusterLogDir,
  frontendAddress,
  reachableHost,
  uiUrl,
  type ClusterState,
} from '../../cluster/layout.js';
import { loadConnectionConfig } from '../../connection.js';
import { BadInputError, EXIT } from '../../errors.js';
import { serverAnswers } from '../../server/dev-server.js';
import { formatDuration } from '../../parse/duration.js';
import type { OptionsOf } from '../command-table.js';
import { resolveWorkDir } from '../invocation.js';

export async function run([action]: (string | undefined)[], options: OptionsOf<'cluster'>): Promise<number> {
  const workDir = resolveWorkDir(options.workDir);
  if (action === 'up') return up(workDir, options);
  if (action === 'down') return down(workDir);
  if (action === 'status') return status(workDir);
  if (action === 'prepare') return prepare();
  throw new BadInputError(`unknown action "${action ?? ''}": use up, down, status or prepare`);
}

async function up(workDir: string, options: OptionsOf<'cluster'>): Promise<number> {
  const before = serviceStatus(workDir);
  if (before.postgres && before.server && (before.ui || !(await readClusterState(workDir))?.ui)) {
    console.log(`The cluster of ${workDir} is already running.`);
    return status(workDir);
  }
  const startedAt = Date.now();
  const state = await clusterUp(workDir, {
    host: options.host,
    port: options.port,
    uiPort: options.uiPort,
    postgresPort: options.postgresPort,
    namespace: loadConnectionConfig().namespace,
    retentionMs: options.retention,
  });
  console.log(`[OK] Temporal cluster up in ${formatDuration(Date.now() - startedAt)}.`);
  printState(state, serviceStatus(workDir), workDir);
  return EXIT.ok;
}

/** Finds or builds every program `up` needs, and starts nothing: for CI, or before going offline. */
async function prepare(): Promise<number> {
  const programs = await clusterPrograms((message) => console.error(message));
  console.log(`PostgreSQL         ${programs.postgres.binDir}`);
  console.log(`temporal-server    ${programs.temporalServer}`);
  console.log(`temporal-sql-tool  ${programs.sqlTool}`);
  console.log(`temporal-ui-server ${programs.uiServer ?? 'could not be built: the cluster runs without a Web UI'}`);
  return EXIT.ok;
}

async function down(workDir: string): Promise<number> {
  const stopped = await clusterDown(workDir);
  console.log(
    stopped.length
      ? `[OK] Stopped ${listed(stopped.map(serviceName))}. The data stays in ${clusterHome(workDir)}.`
      : `No cluster is running in ${workDir}.`,
  );
  return EXIT.ok;
}

/** Exit 0 when everything runs and the server answers, 1 otherwise. */
async function status(workDir: string): Promise<number> {
  const state = await readClusterState(workDir);
  const running = serviceStatus(workDir);
  if (!state) {
    console.log(`No cluster was set up in ${workDir} (start one with: npm run cluster -- up).`);
    return EXIT.failed;
  }
  const answers = running.server !== undefined && (await serverAnswers(frontendAddress(state)));
  const allUp = running.postgres !== undefined && answers && (running.ui !== undefined || !state.ui);
  const anyUp = Object.values(running).some((pid) => pid !== undefined);
  console.log(`Cluster of ${workDir}: ${allUp ? 'running' : anyUp ? 'partly running' : 'stopped'}.`);
  printState(state, running, workDir);
  return allUp ? EXIT.ok : EXIT.failed;
}

/** `a, b and c` */
const listed = (names: string[]) =>
  names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}` : names.join('');

const serviceName = (service: keyof ServiceStatus) =>
  ({ postgres: 'PostgreSQL', server: 'the Temporal server', ui: 'the Web UI' })[service];

function printState(state: ClusterState, running: ServiceStatus, workDir: string): void {
  const pid = (service: keyof ServiceStatus) =>
    running[service] === undefined ? 'stopped' : `pid ${running[service]}`;
  const address = frontendAddress(state);
  const host = reachableHost(state.host);
  console.log(
    `  Temporal server  ${pid('server').padEnd(10)}  frontend ${address}, namespace ${state.namespace}, ` +
      `retention ${formatDuration(state.retentionMs)}, metrics http://${host}:${state.ports.metrics}/metrics`,
  );
  console.log(
    `  Web UI           ${state.ui ? `${pid('ui').padEnd(10)}  ${uiUrl(state)}` : 'not built (see the output of up)'}`,
  );
  console.log(
    `  PostgreSQL       ${pid('postgres').padEnd(10)}  127.0.0.1:${state.postgresPort}, data ${state.postgresDataDir}`,
  );
  console.log(`  Logs             ${clusterLogDir(workDir)}/`);
  if (running.server !== undefined) {
    console.log(`Workers and submit: TEMPORAL_ADDRESS=${address} npm run worker (or submit, status …).`);
  }
}
