/** Follows a running batch: prints what changed, a periodic status line, and returns its summary. */
import { setTimeout as delay } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { isBatchDone } from '../shared/batch-state.js';
import type { BatchState, BatchSummary } from '../shared/types.js';
import { batchStateQuery } from '../workflows/messages.js';
import { describeChanges } from './events.js';
import { statusLines } from './render.js';

export interface FollowOptions {
  statusIntervalMs: number;
  pollMs?: number;
  print: (line: string) => void;
  /** Aborting stops following; the batch runs on. */
  signal?: AbortSignal;
  /** Snapshot already shown, so only later changes are printed. */
  since?: BatchState;
}

export type FollowResult = { kind: 'finished'; summary: BatchSummary } | { kind: 'detached' };

export async function queryBatchState(handle: WorkflowHandle): Promise<BatchState> {
  return handle.query(batchStateQuery);
}

export async function followBatch(handle: WorkflowHandle, options: FollowOptions): Promise<FollowResult> {
  const { print, signal, statusIntervalMs, pollMs = 1_000 } = options;
  let previous = options.since;
  let lastStatusAt = Date.now();
  let queryTrouble = false;
  while (!signal?.aborted) {
    let state: BatchState | undefined;
    try {
      state = await queryBatchState(handle);
      queryTrouble = false;
    } catch (err) {
      if (!queryTrouble) print(`[WAIT] cannot reach the batch right now (${(err as Error).message}); retrying`);
      queryTrouble = true;
    }
    if (state) {
      const now = Date.now();
      describeChanges(previous, state, now).forEach((line) => print(line));
      previous = state;
      if (isBatchDone(state)) return { kind: 'finished', summary: await handle.result() };
      if (now - lastStatusAt >= statusIntervalMs) {
        statusLines(state, now).forEach((line) => print(line));
        lastStatusAt = now;
      }
    }
    await delay(pollMs, undefined, { signal }).catch(() => undefined);
  }
  return { kind: 'detached' };
}
