/** What a run needs to reach its worker's quota agent: the socket, its secret, and the metering of its hosts. */
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { QuotaDeclaration } from '../model/types.js';
import { hostKey } from './declaration.js';

/** staged's Python module and sitecustomize (`python/` in the package), and its `staged-quota` command. */
export const PYTHON_DIR = fileURLToPath(new URL('../../../python', import.meta.url));

/** A UNIX socket path must fit in 108 bytes; a long runs directory gets a short stable directory instead. */
const MAX_SOCKET_PATH = 100;
/** The longest name in a quota directory: `r-<16 hex>.sock`, `w-<pid>-<6 hex>.sock`. */
const LONGEST_NAME = 24;

const digestOf = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/**
 * The quota sockets of a runs directory (beside it): each worker's own socket, and one link per run to the socket
 * of the worker holding it (or tending it until a worker adopts it), so that no worker takes another's runs.
 */
export function quotaDirOf(runsDir: string): string {
  const beside = `${runsDir}.quota`;
  if (beside.length + 1 + LONGEST_NAME <= MAX_SOCKET_PATH) return beside;
  return path.join(tmpdir(), `staged-quota-${digestOf(runsDir)}`);
}

/** A worker's own socket: never shared, never unlinked by another live worker. */
export function agentSocketPath(quotaDir: string): string {
  return path.join(quotaDir, `w-${process.pid}-${randomBytes(3).toString('hex')}.sock`);
}

/** What a run's STAGED_QUOTA_SOCKET names for its whole life: a link its holding worker points at its own socket. */
export function runSocketPath(quotaDir: string, runKey: string): string {
  return path.join(quotaDir, `r-${digestOf(runKey)}.sock`);
}

/** The one socket of every worker of a runs directory before per-worker sockets: runs started then still use it. */
export function legacyQuotaSocketPath(runsDir: string): string {
  const beside = `${runsDir}.quota.sock`;
  if (beside.length <= MAX_SOCKET_PATH) return beside;
  return path.join(tmpdir(), `staged-quota-${digestOf(runsDir)}.sock`);
}

/**
 * Every run may ask the agent (for quotas it declares); a run that uses quotas also gets `staged_quota` on
 * PYTHONPATH, `staged-quota` on PATH and, unless its metering is manual, Python's automatic metering of their
 * hosts (our sitecustomize, first on PYTHONPATH).
 */
export function quotaEnvironment(
  parent: NodeJS.ProcessEnv,
  socketPath: string,
  token: string,
  quotas: Record<string, QuotaDeclaration>,
  metering?: 'manual',
): Record<string, string> {
  const environment: Record<string, string> = { STAGED_QUOTA_SOCKET: socketPath, STAGED_QUOTA_TOKEN: token };
  const names = Object.keys(quotas);
  if (!names.length) return environment;
  const hosts = Object.fromEntries(names.flatMap((name) => quotas[name].hosts.map((host) => [hostKey(host), name])));
  const prepend = (dir: string, list: string | undefined) => (list ? `${dir}${path.delimiter}${list}` : dir);
  return {
    ...environment,
    STAGED_QUOTA_HOSTS: JSON.stringify(hosts),
    STAGED_QUOTA_AUTO: metering === 'manual' ? '0' : '1',
    PYTHONPATH: prepend(PYTHON_DIR, parent.PYTHONPATH),
    PATH: prepend(path.join(PYTHON_DIR, 'bin'), parent.PATH),
  };
}
