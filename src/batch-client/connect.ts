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

export async function connect(config: ConnectionConfig, connectTimeoutMs = 3_000): Promise<Connection> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...config.options, connectTimeout: connectTimeoutMs });
  } catch {
    throw new BadInputError(`no Temporal server answers at ${config.address}`);
  }
  try {
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
