/**
 * The progress of a batch's running experiments, read where Temporal keeps it: the heartbeat
 * details of each experiment workflow's pending activity (also shown in the Web UI).
 */
import type { WorkflowClient } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { experimentWorkflowId } from '../shared/batch-state.js';
import type { BatchState, RunHeartbeat } from '../shared/types.js';

/** Describing every running experiment costs one call each; past this many, the rest go without. */
const MAX_DESCRIBED = 100;

export async function runningProgress(client: WorkflowClient, state: BatchState): Promise<Map<number, RunHeartbeat>> {
  const running = state.records
    .map((record, index) => ({ record, index }))
    .filter(({ record }) => record.status === 'running')
    .slice(0, MAX_DESCRIBED);
  const found = await Promise.all(
    running.map(async ({ index }) => {
      const workflowId = experimentWorkflowId(state.batchId, state.experiments[index].name);
      return [index, await lastHeartbeat(client, workflowId)] as const;
    }),
  );
  return new Map(found.filter((entry): entry is readonly [number, RunHeartbeat] => entry[1] !== undefined));
}

async function lastHeartbeat(client: WorkflowClient, workflowId: string): Promise<RunHeartbeat | undefined> {
  try {
    const { raw } = await client.getHandle(workflowId).describe();
    const pending = raw.pendingActivities?.[0];
    const payload = pending?.heartbeatDetails?.payloads?.[0];
    if (!payload) return undefined;
    const details = defaultPayloadConverter.fromPayload<RunHeartbeat>(payload);
    if (typeof details?.startedAt !== 'number') return undefined;
    const heard = pending?.lastHeartbeatTime;
    return heard
      ? { ...details, heardAt: Number(heard.seconds ?? 0) * 1000 + Math.floor((heard.nanos ?? 0) / 1e6) }
      : details;
  } catch {
    return undefined; // it just finished, or the server is busy: shown without progress this time
  }
}
