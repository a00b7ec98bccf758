/**
 * Where a worker keeps its runs on this machine. Runs belong to the server that started them: two
 * servers on one machine (two projects, a test beside real work) share the runs root and may share
 * the queue's name, so each server's runs live apart, under the id of the namespace (a UUID made by the
 * server's database: the same across restarts, addresses and proxies; different for another server).
 */
import { createHash } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { NativeConnection } from '@temporalio/worker';
import { RunFiles } from '../keeper/run-files.js';

export interface RunsLayout {
  /** Where this worker starts runs: `<root>/server-<namespace id>/<queue>`. */
  own: string;
  /**
   * Where versions before runs were kept per server left theirs: `<root>/<queue>`. Its runs are
   * adopted, but never stopped on a server's "not found": their server is unknown.
   */
  legacy: string;
}

export function runsLayout(root: string, serverId: string, taskQueue: string): RunsLayout {
  const queue = encodeURIComponent(taskQueue);
  return { own: path.join(root, `server-${serverId}`, queue), legacy: path.join(root, queue) };
}

/** Both directories, own first: what counts as this machine's runs of the queue. */
export function runsDirsOf(layout: RunsLayout): string[] {
  return [layout.own, layout.legacy];
}

/** gRPC codes of a server that will not describe the namespace to this worker's credentials. */
const NOT_ALLOWED = new Set([7, 12]); // PERMISSION_DENIED, UNIMPLEMENTED

/**
 * The namespace's id, which names its server's runs directory; where the credentials may not describe
 * the namespace, a digest of the address and namespace (the next best name of the server).
 */
export async function serverIdOf(connection: NativeConnection, namespace: string, address?: string): Promise<string> {
  try {
    const { namespaceInfo } = await connection.workflowService.describeNamespace({ namespace });
    if (namespaceInfo?.id) return namespaceInfo.id;
  } catch (err) {
    if (address === undefined || !NOT_ALLOWED.has((err as { code?: number }).code ?? -1)) throw err;
  }
  if (address === undefined) throw new Error(`the server did not give the id of namespace ${namespace}`);
  return `at-${createHash('sha256').update(`${address}/${namespace}`).digest('hex').slice(0, 16)}`;
}

/** A server id made from the address (its namespace could not be described), not by the server's database. */
export function isAddressDigest(serverId: string): boolean {
  return serverId.startsWith('at-');
}

/** Names the server of a runs directory for whoever reads the root by hand. */
export async function recordServer(layout: RunsLayout, address: string, namespace: string): Promise<void> {
  const serverDir = path.dirname(layout.own);
  await mkdir(serverDir, { recursive: true });
  await writeFile(path.join(serverDir, 'server.json'), JSON.stringify({ address, namespace }) + '\n');
}

/** A run's files: in the legacy layout when it was started there, else in this server's directory. */
export async function runFilesOf(layout: RunsLayout, runKey: string): Promise<RunFiles> {
  const legacy = RunFiles.of(layout.legacy, runKey);
  const inLegacy = await stat(legacy.dir).then(
    () => true,
    () => false,
  );
  return inLegacy ? legacy : RunFiles.of(layout.own, runKey);
}
