/** One way to reach Temporal from a command: a bounded connect, then a namespace check with a deadline. */
import { Client, Connection, isGrpcServiceError } from '@temporalio/client';
import { NamespaceNotFoundError } from '@temporalio/common';
import { loadConnectionConfig, type ConnectionConfig } from '../connection.js';
import { BadInputError, oneLine } from '../errors.js';

/** How long a command waits for the server before saying it does not answer. */
export const ANSWER_TIMEOUT_MS = 10_000;
const NOT_FOUND = 5;

/** Fails fast, with one line, on a namespace that does not exist or a server too slow to answer. */
export async function checkNamespace(
  connection: Connection,
  config: ConnectionConfig,
  timeoutMs = ANSWER_TIMEOUT_MS,
): Promise<void> {
  try {
    await connection.withDeadline(Date.now() + timeoutMs, () =>
      connection.workflowService.describeNamespace({ namespace: config.namespace }),
    );
  } catch (err) {
    const code: number | undefined = isGrpcServiceError(err) ? err.code : undefined;
    if (err instanceof NamespaceNotFoundError || code === NOT_FOUND) {
      throw new BadInputError(
        `namespace "${config.namespace}" does not exist at ${config.address} (set by TEMPORAL_NAMESPACE or a profile)`,
      );
    }
    throw new BadInputError(
      `the Temporal server at ${config.address} did not answer within ${timeoutMs / 1000}s (${oneLine(err)})`,
    );
  }
}

const CONNECT_TIMEOUT_MS = 3_000;

/** Resolves once the server answers (Temporal's getSystemInfo); a BadInputError when it does not. */
function reachable(connection: Connection, config: ConnectionConfig): Promise<void> {
  return connection.ensureConnected().catch(() => {
    throw new BadInputError(`no Temporal server answers at ${config.address}`);
  });
}

export async function connect(config: ConnectionConfig, connectTimeoutMs = CONNECT_TIMEOUT_MS): Promise<Connection> {
  const connection = Connection.lazy({ ...config.options, connectTimeout: connectTimeoutMs });
  try {
    await reachable(connection, config);
    await checkNamespace(connection, config);
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
  return connection;
}

/** Runs `action` with a client of the configured namespace, and closes the connection after it. */
export async function withConnection<T>(
  config: ConnectionConfig,
  action: (client: Client, connection: Connection) => Promise<T>,
): Promise<T> {
  const connection = await connect(config);
  try {
    return await action(new Client({ connection, namespace: config.namespace }), connection);
  } finally {
    await connection.close();
  }
}

/** Runs `action` with a client of the namespace configured in the environment (or a profile). */
export function withClient<T>(action: (client: Client) => Promise<T>): Promise<T> {
  return withConnection(loadConnectionConfig(), (client) => action(client));
}

/** A read that has not answered by then has the namespace checked beside it, for a clearer message. */
export const CHECKS_AFTER_MS = 1_000;

/**
 * withClient for an action that only reads: its calls go out along with the check that the server is reachable,
 * and a read that answers shows the namespace there, so the namespace is checked only when the read fails or has
 * not answered within CHECKS_AFTER_MS. When a check fails, its error is thrown instead of the read's result or
 * error, so the messages are withClient's.
 */
export async function withReadingClient<T>(read: (client: Client) => Promise<T>): Promise<T> {
  const config = loadConnectionConfig();
  const connection = Connection.lazy({ ...config.options, connectTimeout: CONNECT_TIMEOUT_MS });
  try {
    const reached = reachable(connection, config);
    reached.catch(() => undefined); // awaited below unless the read answers first
    const result = read(new Client({ connection, namespace: config.namespace }));
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      result.then(
        () => true,
        () => false,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CHECKS_AFTER_MS))),
    ]);
    clearTimeout(timer);
    if (!answered) {
      result.catch(() => undefined); // the checks' error wins
      await Promise.all([reached, checkNamespace(connection, config)]);
    }
    return await result;
  } finally {
    await connection.close();
  }
}
