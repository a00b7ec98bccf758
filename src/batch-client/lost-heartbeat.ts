/**
 * The last heartbeat of a run whose worker went silent. Once its activity's heartbeat timed out, the workflow
 * schedules the adoption as a new activity with no heartbeat of its own: the last one lives on only in the
 * history's timeout event, read from the history's end.
 */
import type { WorkflowClient } from '@temporalio/client';
import proto from '@temporalio/proto';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;
type Payload = proto.temporal.api.common.v1.IPayload;
type Timestamp = proto.google.protobuf.ITimestamp;

const { EventType, TimeoutType } = proto.temporal.api.enums.v1;
const ACTIVITY_ENDS = new Set([
  EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
  EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
]);
/** After a loss come a workflow task and the adoption's scheduling (a few signals at most): this many reach back. */
const EVENTS_READ = 20;

export interface LastHeard {
  /** The heartbeat details the worker sent last (absent when it sent none). */
  payload?: Payload;
  /** When the server last heard from the run's worker (epoch ms). */
  heardAt: number;
}

export function timestampMs(time: Timestamp): number {
  return Number(time.seconds ?? 0) * 1000 + Math.floor((time.nanos ?? 0) / 1e6);
}

/**
 * `newestFirst`: a history's last events. Only when the newest activity to end was lost to its heartbeat timeout,
 * which the server fires one heartbeat timeout after the last heartbeat it heard.
 */
export function lastHeardBeforeTimeout(
  newestFirst: readonly HistoryEvent[],
  heartbeatTimeoutMs: number,
): LastHeard | undefined {
  const end = newestFirst.find((event) => event.eventType != null && ACTIVITY_ENDS.has(event.eventType));
  const timeout = end?.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo;
  if (!end?.eventTime || timeout?.timeoutType !== TimeoutType.TIMEOUT_TYPE_HEARTBEAT) return undefined;
  const payload = timeout.lastHeartbeatDetails?.payloads?.[0];
  return { ...(payload ? { payload } : {}), heardAt: timestampMs(end.eventTime) - heartbeatTimeoutMs };
}

export async function lastHeardOfLostRun(
  client: WorkflowClient,
  workflowId: string,
  heartbeatTimeoutMs: number,
): Promise<LastHeard | undefined> {
  const { history } = await client.workflowService.getWorkflowExecutionHistoryReverse({
    namespace: client.options.namespace,
    execution: { workflowId },
    maximumPageSize: EVENTS_READ,
  });
  return lastHeardBeforeTimeout(history?.events ?? [], heartbeatTimeoutMs);
}
