/**
 * A running batch as Temporal itself keeps it, for `status` when no worker answers the batch's query: the state
 * the batch's current run started with (its history's first event) brought up to date by its experiments'
 * workflows (visibility: each one's StagedStatus). What changed only inside the batch since (a `change`, an
 * `add` not started yet) is not there.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { isFinal } from '../model/batch-state.js';
import { unpackBatchState, type PackedBatchState } from '../model/packed-state.js';
import type { BatchState, ExperimentStatus } from '../model/types.js';
import { EXPERIMENT_WORKFLOW } from '../protocol/messages.js';
import {
  BATCH_ID_SEARCH_ATTRIBUTE,
  EXPERIMENT_SEARCH_ATTRIBUTE,
  STATUS_SEARCH_ATTRIBUTE,
} from '../protocol/search-attributes.js';
import { machineIdSetting } from '../settings.js';
import { ANSWER_TIMEOUT_MS } from './connect.js';
import { askPollers, type AskedPollers, type Poller } from './machines.js';

/** Temporal ends a long poll after a minute and a live worker polls again at once: older, and it polls no more. */
export const POLLING_WITHIN_MS = 75_000;
/** How long `status` waits for an answer while the queue was polled lately: its worker may have just died. */
export const QUICK_ANSWER_MS = 1_000;

/** Why `status` shows the batch as Temporal keeps it. */
export interface WorkerSilence {
  taskQueue: string;
  /** The newest poll of the task queue's workflows Temporal remembers (5 min); absent: none. */
  lastPoll?: Poller;
  /** A worker (not one of this machine that exited) polled within 75 s, yet none answered within QUICK_ANSWER_MS. */
  polledRecently: boolean;
  /** The last poller was a worker of this machine whose process has exited. */
  lastPollerExited: boolean;
  /** How long `status` waited for an answer before reading what Temporal keeps. */
  waitedMs: number;
}

/**
 * The pid of a poller that is a worker of this machine (its identity `<pid>@<machine id> …` names this machine's id,
 * which staged requires to be unique); undefined for another machine's worker or an identity staged did not make.
 */
function pidHere(identity: string, machineId: string): number | undefined {
  const match = /^(\d+)@(\S+)/.exec(identity);
  return match !== null && match[2] === machineId ? Number(match[1]) : undefined;
}

/** Whether a poller is a worker of this machine whose process is gone: it polls no more, however recent its poll. */
export function exitedHere(identity: string, machineId: string, alive: (pid: number) => boolean): boolean {
  const pid = pidHere(identity, machineId);
  return pid !== undefined && !alive(pid);
}

/** Whether a poller is a worker of this machine whose process still runs: a busy worker, not a dead one. */
export function liveHere(identity: string, machineId: string, alive: (pid: number) => boolean): boolean {
  const pid = pidHere(identity, machineId);
  return pid !== undefined && alive(pid);
}

/** A zombie has exited (its parent has not collected it yet: PID 1 in a container may never). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: someone else's process
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Resolves once it is clear that no worker will answer soon: at once when nobody polled the task queue within
 * POLLING_WITHIN_MS but workers of this machine that have exited, after the whole answer time when a worker of this
 * machine that still runs polled, else after QUICK_ANSWER_MS. The caller races it against the query; its one call
 * goes out along with the query.
 */
export async function workerSilence(
  client: Client,
  taskQueue: string,
  startedAt = Date.now(),
  /** The task queue's pollers, when already asked for; undefined when the server did not answer. */
  asked: AskedPollers = askPollers(client, taskQueue),
) {
  const pollers = await asked;
  const here = machineIdSetting() ?? hostname();
  const exited = (poller: Poller) => exitedHere(poller.identity, here, processAlive);
  const lastPoll = pollers?.[0];
  const polling = pollers?.filter((poller) => Date.now() - poller.lastPollAt <= POLLING_WITHIN_MS && !exited(poller));
  const polledRecently = polling === undefined || polling.length > 0;
  if (polledRecently) {
    // A worker of this machine that still runs gets the whole answer time: it is busy, not gone.
    const busyHere = polling?.some((poller) => liveHere(poller.identity, here, processAlive));
    const left = startedAt + (busyHere ? ANSWER_TIMEOUT_MS : QUICK_ANSWER_MS) - Date.now();
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left).unref());
  }
  const lastPollerExited = lastPoll !== undefined && exited(lastPoll);
  const waitedMs = Date.now() - startedAt;
  const silence: WorkerSilence = {
    taskQueue,
    polledRecently,
    lastPollerExited,
    waitedMs,
    ...(lastPoll ? { lastPoll } : {}),
  };
  return silence;
}

/** The state the batch's current run started with: its first history event's input. */
async function startedWith(client: Client, batchId: string): Promise<BatchState> {
  const { history } = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId: batchId },
    maximumPageSize: 1,
  });
  const payload = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`the history of batch ${batchId} holds no input`);
  return unpackBatchState(defaultPayloadConverter.fromPayload<PackedBatchState>(payload));
}

/** An experiment workflow's status: its StagedStatus, or how it closed when that says more. */
function statusOf(workflow: WorkflowExecutionInfo): ExperimentStatus | undefined {
  const shown = workflow.typedSearchAttributes.get(STATUS_SEARCH_ATTRIBUTE);
  const status = (shown === 'paused' ? 'running' : shown) as ExperimentStatus | undefined;
  switch (workflow.status.name) {
    case 'RUNNING':
      return status;
    case 'COMPLETED':
      return status && isFinal(status) ? status : 'completed';
    case 'CANCELLED':
      return 'cancelled';
    default:
      return 'failed';
  }
}

export async function keptBatchState(client: Client, batchId: string): Promise<BatchState> {
  const query =
    `WorkflowType = '${EXPERIMENT_WORKFLOW}' AND ` +
    `${BATCH_ID_SEARCH_ATTRIBUTE.name} = '${batchId.replace(/'/g, '')}'`;
  const listing = (async () => {
    const found: WorkflowExecutionInfo[] = [];
    for await (const workflow of client.workflow.list({ query })) found.push(workflow);
    return found;
  })();
  listing.catch(() => undefined); // a namespace without staged's search attributes: the start state alone
  const state = await startedWith(client, batchId);
  const experiments = state.settings.searchAttributes ? await listing.catch(() => []) : [];
  const indexOf = new Map(state.experiments.map((experiment, index) => [experiment.name, index]));
  for (const workflow of experiments) {
    const index = indexOf.get(workflow.typedSearchAttributes.get(EXPERIMENT_SEARCH_ATTRIBUTE) ?? '');
    const status = statusOf(workflow);
    if (index === undefined || !status) continue;
    const record = state.records[index];
    state.records[index] = {
      ...record,
      status,
      attempts: Math.max(record.attempts, status === 'running' ? 1 : 0),
      startedAt: record.startedAt ?? workflow.startTime.getTime(),
      ...(workflow.closeTime ? { closedAt: workflow.closeTime.getTime() } : {}),
    };
    state.nextIndex = Math.max(state.nextIndex, index + 1);
  }
  return state;
}
