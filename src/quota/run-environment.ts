/** What a run needs to reach its worker's quota agent: the socket, its secret, and the metering of its hosts. */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { QuotaDeclaration } from '../shared/types.js';
import { hostKey } from './declaration.js';

/** staged's Python module and sitecustomize (`python/` in the package), and its `staged-quota` command. */
export const PYTHON_DIR = fileURLToPath(new URL('../../../python', import.meta.url));

/** A UNIX socket path must fit in 108 bytes; a long runs directory gets a short stable path instead. */
const MAX_SOCKET_PATH = 100;

/** One socket per runs directory (beside it), the same for every worker serving it: adopted runs find the next. */
export function quotaSocketPath(runsDir: string): string {
  const beside = `${runsDir}.quota.sock`;
  if (beside.length <= MAX_SOCKET_PATH) return beside;
  const digest = createHash('sha256').update(runsDir).digest('hex').slice(0, 16);
  return path.join(tmpdir(), `staged-quota-${digest}.sock`);
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
