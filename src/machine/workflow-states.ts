/**
 * What a server says of experiment workflows, for the orphan check (orphans.ts): one at a time from its
 * histories, or many at once from its visibility store, which lags behind the histories by a moment.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import type { RunInput } from '../model/types.js';

const WORKFLOW_RUNNING = proto.temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;
/** Where to look back for the last scheduled run: an experiment's history has a few events per run. */
const EVENTS_LOOKED_AT = 50;
/** Workflow ids per visibility query: its text stays well inside the server's limits. */
const IDS_PER_QUERY = 100;
/** Executions per page of a visibility answer: an id reused by a later batch lists once per execution. */
const EXECUTIONS_PER_PAGE = 1_000;

/** What this server says of a run's workflow. */
export type WorkflowState = 'running' | 'closed' | 'not-found' | 'unknown';

/** Its latest execution, from the server's history; `unknown` whenever the server cannot say. */
export async function workflowState(
  connection: NativeConnection,
  namespace: string,
  workflowId: string,
): Promise<WorkflowState> {
  try {
    const { workflowExecutionInfo } = await connection.workflowService.describeWorkflowExecution({
      namespace,
      execution: { workflowId },
    });
    return workflowExecutionInfo?.status === WORKFLOW_RUNNING ? 'running' : 'closed';
  } catch (err) {
    return (err as { code?: number }).code === 5 ? 'not-found' : 'unknown';
  }
}

/**
 * Many workflows in one visibility query each hundred: `running` while any execution of the id runs, `closed` when
 * every one it lists has closed. An id it does not list (not yet visible, or gone), cannot be written into a query,
 * or whose query failed is absent: ask `workflowState`. Visibility trails the histories, so a `closed` may hide a
 * newer execution started a moment ago: use it only where that is harmless (the directory of an ended run).
 */
export async function listedWorkflowStates(
  connection: NativeConnection,
  namespace: string,
  workflowIds: Iterable<string>,
): Promise<Map<string, 'running' | 'closed'>> {
  const states = new Map<string, 'running' | 'closed'>();
  const quotable = [...new Set(workflowIds)].filter(isQuotable);
  for (let at = 0; at < quotable.length; at += IDS_PER_QUERY) {
    const ids = quotable.slice(at, at + IDS_PER_QUERY);
    const query = `WorkflowId IN (${ids.map((id) => `'${id}'`).join(', ')})`;
    const found = new Map<string, 'running' | 'closed'>();
    try {
      let nextPageToken: Uint8Array | undefined;
      do {
        const page = await connection.workflowService.listWorkflowExecutions({
          namespace,
          query,
          pageSize: EXECUTIONS_PER_PAGE,
          nextPageToken,
        });
        for (const { execution, status } of page.executions ?? []) {
          const id = execution?.workflowId;
          if (!id) continue;
          if (status === WORKFLOW_RUNNING) found.set(id, 'running');
          else if (!found.has(id)) found.set(id, 'closed');
        }
        nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      } while (nextPageToken);
    } catch {
      continue; // this part unanswered: each of its ids is asked alone
    }
    for (const [id, state] of found) states.set(id, state);
  }
  return states;
}

/** An id with no quote, backslash or control character goes into a query as it is. */
function isQuotable(workflowId: string): boolean {
  return !/['"\\\p{Cc}]/u.test(workflowId);
}

/** The run number of the last activity the experiment's workflow scheduled; undefined when unknown. */
export async function latestScheduledRun(
  connection: NativeConnection,
  namespace: string,
  workflowId: string,
): Promise<number | undefined> {
  try {
    const { history } = await connection.workflowService.getWorkflowExecutionHistoryReverse({
      namespace,
      execution: { workflowId },
      maximumPageSize: EVENTS_LOOKED_AT,
    });
    for (const event of history?.events ?? []) {
      const payload = event.activityTaskScheduledEventAttributes?.input?.payloads?.[0];
      if (!payload || event.activityTaskScheduledEventAttributes?.activityType?.name !== 'runExperiment') continue;
      return defaultPayloadConverter.fromPayload<RunInput>(payload).run;
    }
  } catch {
    // the server cannot say
  }
  return undefined;
}
