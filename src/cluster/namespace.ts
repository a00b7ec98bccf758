/**
 * The cluster's namespace: unlike the dev server, a SQL-backed server creates none, so `cluster up`
 * registers it with staged's retention, then staged's search attributes.
 */
import { isGrpcServiceError, type Connection } from '@temporalio/client';
import { msNumberToTs } from '@temporalio/common';
import { setRetention } from '../server/retention.js';
import { ensureSearchAttributes } from '../server/search-attributes.js';

/** gRPC's ALREADY_EXISTS. */
const ALREADY_EXISTS = 6;

/** Throws until the namespace exists with the retention, has the search attributes, and answers a query. */
export async function registerNamespace(connection: Connection, namespace: string, retentionMs: number) {
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msNumberToTs(retentionMs),
    });
  } catch (err) {
    const code: number | undefined = isGrpcServiceError(err) ? err.code : undefined;
    if (code !== ALREADY_EXISTS) throw err;
    await setRetention(connection, namespace, retentionMs);
  }
  if (!(await ensureSearchAttributes(connection, namespace))) {
    throw new Error(`staged's search attributes could not be registered in ${namespace} yet`);
  }
  // A new namespace reaches the services' caches within seconds: a visibility query is answered once it has.
  await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
}
