/** Follows a running batch: shows what changed and its status with progress, and returns its summary. */
import { setTimeout as delay } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { isBatchDone } from '../model/batch-state.js';
import type { BatchState, BatchSummary } from '../model/types.js';
import { batchSummary, queryBatchState } from '../batch-client/index.js';
import { EXIT } from '../errors.js';
import type { Display } from './display/display.js';
import { describeChanges } from './display/events.js';
import { statusLines } from './display/render.js';
import { commandHint, workerHint } from './invocation.js';
import { readLiveView } from './live-view.js';

interface FollowOptions {
  /** How often plain output prints the status block; a live display redraws it at every poll. */
  statusIntervalMs: number;
  pollMs?: number;
  display: Display;
  /** Aborting stops following; the batch runs on. */
  signal?: AbortSignal;
  /** Snapshot already shown, so only later changes are printed. */
  since?: BatchState;
}

type FollowResult = { kind: 'finished'; summary: BatchSummary } | { kind: 'detached' };

export async function statusBlock(handle: WorkflowHandle, state: BatchState, status = 'running'): Promise<string[]> {
  return statusLines(await readLiveView(handle.client, state, status));
}

async function followBatch(handle: WorkflowHandle, options: FollowOptions): Promise<FollowResult> {
  const { display, signal, statusIntervalMs, pollMs = 1_000 } = options;
  let previous = options.since;
  let lastStatusAt = Date.now();
  let queryTrouble = false;
  while (!signal?.aborted) {
    let state: BatchState | undefined;
    try {
      state = await queryBatchState(handle);
      queryTrouble = false;
    } catch (err) {
      if (!queryTrouble) display.line(`[WAIT] ${noAnswerText(err, previous?.settings.taskQueue)}; retrying`);
      queryTrouble = true;
    }
    if (state) {
      const now = Date.now();
      describeChanges(previous, state, now).forEach((line) => display.line(line));
      previous = state;
      if (isBatchDone(state)) return { kind: 'finished', summary: await batchSummary(handle) };
      if (display.live || now - lastStatusAt >= statusIntervalMs) {
        display.status(await statusBlock(handle, state));
        lastStatusAt = now;
      }
    }
    await delay(pollMs, undefined, { signal }).catch(() => undefined);
  }
  return { kind: 'detached' };
}

/** A finished batch's exit code: 0 when every experiment completed, else 1. */
export function outcomeOf(summary: BatchSummary): number {
  return summary.experiments.every((experiment) => experiment.status === 'completed') ? EXIT.ok : EXIT.failed;
}

interface FollowToEndOptions extends Omit<FollowOptions, 'signal'> {
  /** Where the detach message goes. */
  note: (line: string) => void;
  printSummary: (summary: BatchSummary) => void;
}

/**
 * Follows a batch until it ends (exit 0 when all completed, else 1) or Ctrl-C detaches (exit 130);
 * the batch runs on either way.
 */
export async function followUntilEnd(handle: WorkflowHandle, options: FollowToEndOptions): Promise<number> {
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    const result = await followBatch(handle, { ...options, signal: interrupt.signal });
    options.display.close();
    if (result.kind === 'detached') {
      options.note(
        `\n[DETACHED] Batch ${handle.workflowId} runs on. Re-attach with: ${commandHint('watch', [handle.workflowId])}`,
      );
      return EXIT.detached;
    }
    options.printSummary(result.summary);
    return outcomeOf(result.summary);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** gRPC's code for a server out of reach (down, restarting, the network). */
const GRPC_UNAVAILABLE = 14;

/** A query that failed: the server is out of reach, or (most often) no worker runs the batch's workflow. */
function noAnswerText(err: unknown, taskQueue: string | undefined): string {
  const message = (err as Error).message;
  const cause = (err as Error).cause as { code?: number; details?: string } | undefined;
  if (cause?.code === GRPC_UNAVAILABLE) {
    return `the Temporal server does not answer (${unavailableCause(cause.details ?? message)})`;
  }
  if (/query/i.test(message)) {
    const start = taskQueue ? workerHint(taskQueue) : commandHint('worker');
    return `no worker answers for the batch (${message}); is one running? Start one with: ${start}`;
  }
  return `cannot reach the batch right now (${message})`;
}

/**
 * The cause inside gRPC's "server out of reach" details, e.g. `connect ECONNREFUSED 127.0.0.1:7233` out of
 * "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:7233. Resolution note: ".
 */
export function unavailableCause(details: string): string {
  // The resolver's note is empty for a plain address; a note with text is kept.
  const text = details.replace(/\.?\s*Resolution note:\s*$/, '').trim();
  const lastError = /Last error: (?:Error: )?(.+)$/s.exec(text);
  return (lastError ? lastError[1] : text).trim() || details;
}
