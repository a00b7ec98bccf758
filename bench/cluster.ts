/**
 * `npm run bench -- --cluster`: a Temporal cluster on PostgreSQL (`cluster up`'s own code) in a scratch
 * work dir on ports of its own, for the bench parts to run on beside the dev server. Its stop runs
 * `cluster down` and removes the work dir (its PostgreSQL data).
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { clusterDown, clusterUp } from '../src/cluster/cluster.js';
import { frontendAddress } from '../src/cluster/layout.js';
import { freePort } from '../src/server/dev-server-process.js';
import type { BenchServer } from './bench-env.js';
import { freeServerPort } from '../src/cluster/free-ports.js';

/** Worker processes on the cluster, as three machines. */
export const CLUSTER_WORKERS = 3;

export interface BenchCluster {
  env: BenchServer;
  /** The bench's connection to it, for the caller to close once no call is in flight. */
  connection: Connection;
}

/**
 * Calls `started` with the cluster's stop (`cluster down`, then the scratch work dir goes; once however
 * often called) before anything runs, so that a failed or interrupted start is cleaned up too.
 */
export async function startBenchCluster(started: (stop: () => Promise<void>) => void): Promise<BenchCluster> {
  const workDir = await mkdtemp(path.join(tmpdir(), 'staged-bench-cluster-'));
  // mkdtemp makes it 0700: as root, PostgreSQL runs as the postgres user, who must enter it.
  await chmod(workDir, 0o755);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await clusterDown(workDir);
      await rm(workDir, { recursive: true, force: true });
    })());
  started(stop);
  const startedAt = Date.now();
  const state = await clusterUp(workDir, {
    host: '127.0.0.1',
    port: await freeServerPort(),
    uiPort: await freePort(),
    postgresPort: await freePort(),
    namespace: 'default',
    retentionMs: 24 * 3600_000,
    log: (message) => console.log(`  ${message}`),
  });
  const address = frontendAddress(state);
  console.log(`  cluster up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${address}, work dir ${workDir}`);
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: state.namespace });
  return { env: { name: 'cluster', address, client, workers: CLUSTER_WORKERS }, connection };
}
