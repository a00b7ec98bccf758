/**
 * The progress of a batch's running experiments, read where Temporal keeps it: the heartbeat
 * details of each experiment workflow's pending activity (also shown in the Web UI).
 */
import type { WorkflowClient } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import { experimentWorkflowId } from '../model/batch-state.js';
import type { BatchState, RunHeartbeat, RunHeartbeatDetails } from '../model/types.js';
import { RUN_ADOPT_WINDOW_MEMO, RUN_UNHELD_SINCE_MEMO } from '../protocol/messages.js';
import { lastHeardOfLostRun, timestampMs } from './lost-heartbeat.js';

const { PENDING_ACTIVITY_STATE_SCHEDULED } = proto.temporal.api.enums.v1.PendingActivityState;

/** Describing every running experiment costs one call each; past this many, the rest go without. */
const MAX_DESCRIBED = 100;

export async function runningProgress(client: WorkflowClient, state: BatchState): Promise<Map<number, RunHeartbeat>> {
  const { heartbeatTimeoutMs } = state.settings;
  const running = state.records
    .map((record, index) => ({ record, index }))
    .filter(({ record }) => record.status === 'running')
    .slice(0, MAX_DESCRIBED);
  const found = await Promise.all(
    running.map(async ({ record, index }) => {
      const workflowId = experimentWorkflowId(state.batchId, state.experiments[index].name);
      return [index, await lastHeartbeat(client, workflowId, record.startedAt, heartbeatTimeoutMs)] as const;
    }),
  );
  return new Map(found.filter((entry): entry is readonly [number, RunHeartbeat] => entry[1] !== undefined));
}

async function lastHeartbeat(
  client: WorkflowClient,
  workflowId: string,
  recordStartedAt: number | undefined,
  heartbeatTimeoutMs: number,
): Promise<RunHeartbeat | undefined> {
  try {
    const { raw, memo } = await client.getHandle(workflowId).describe();
    // Set by the workflow while adoptions of its run keep failing (workflows/run-watchdog.ts).
    const unheld =
      typeof memo?.[RUN_UNHELD_SINCE_MEMO] === 'number'
        ? { unheldSince: memo[RUN_UNHELD_SINCE_MEMO], adoptWindowMs: Number(memo[RUN_ADOPT_WINDOW_MEMO]) || undefined }
        : {};
    const pending = raw.pendingActivities?.[0];
    const pendingPayload = pending?.heartbeatDetails?.payloads?.[0];
    const heardAt = pending?.lastHeartbeatTime ? timestampMs(pending.lastHeartbeatTime) : undefined;
    // Taken by no worker yet: an adoption waiting since the run's worker went silent, as far as the history says.
    // None pending: the run's activity timed out and no worker has yet run the workflow task that follows.
    const last = pendingPayload
      ? { payload: pendingPayload, heardAt }
      : !pending || pending.state === PENDING_ACTIVITY_STATE_SCHEDULED
        ? await lastHeardOfLostRun(client, workflowId, heartbeatTimeoutMs)
        : undefined;
    const details = last?.payload ? defaultPayloadConverter.fromPayload<RunHeartbeatDetails>(last.payload) : undefined;
    if (typeof details?.startedAt !== 'number') {
      return 'unheldSince' in unheld ? { host: '', startedAt: recordStartedAt ?? Date.now(), ...unheld } : undefined;
    }
    return {
      ...details,
      ...unheld,
      ...(details.adoptWindowMs ? { adoptWindowMs: details.adoptWindowMs } : {}),
      ...(last?.heardAt !== undefined ? { heardAt: last.heardAt } : {}),
    };
  } catch {
    return undefined; // it just finished, or the server is busy: shown without progress this time
  }
}
