/**
 * Links to a batch in the Web UI, from where its address is known: STAGED_WEB_UI, the record of the dev
 * server staged started (.staged/server.json) or of its cluster (.staged/cluster/cluster.json). No guess.
 */
import { readFile } from 'node:fs/promises';
import { clusterStateFile, frontendAddress, uiUrl, type ClusterState } from '../cluster/layout.js';
import { readServerRecord } from '../server/server-record.js';
import { webUiSetting } from '../settings.js';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '0.0.0.0']);

function hostAndPort(address: string): { host: string; port: string } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: address.slice(colon + 1) };
}

/** True when both addresses reach the same server: same port, and the same host or both this machine. */
function sameServer(a: string, b: string): boolean {
  const [one, two] = [hostAndPort(a), hostAndPort(b)];
  return one.port === two.port && (one.host === two.host || (LOOPBACK.has(one.host) && LOOPBACK.has(two.host)));
}

/** The Web UI of the server at `address` (http://host:port), or undefined when nothing tells it. */
async function webUiOf(address: string, workDir: string): Promise<string | undefined> {
  const fromEnv = webUiSetting();
  if (fromEnv) return fromEnv.replace(/\/+$/, '');
  const server = readServerRecord(workDir);
  if (server && sameServer(server.address, address)) {
    const { host } = hostAndPort(address);
    return `http://${host.includes(':') ? `[${host}]` : host}:${server.uiPort}`;
  }
  const cluster = await readFile(clusterStateFile(workDir), 'utf8')
    .then((text) => JSON.parse(text) as ClusterState)
    .catch(() => undefined);
  if (cluster?.ui && sameServer(frontendAddress(cluster), address)) return uiUrl(cluster);
  return undefined;
}

export async function webUiLink(
  address: string,
  namespace: string,
  workDir: string,
  workflowId: string,
): Promise<string | undefined> {
  const ui = await webUiOf(address, workDir);
  return ui && `${ui}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
