/**
 * Which queued experiments no live worker can run: their `Requires:` against the resources live workers
 * declare. A worker's identity carries its resources, and its workflow pollers on the batch's task queue
 * keep polling while its slots and resources are busy, so Temporal's list of pollers is the list of live machines.
 */
import { realpath } from 'node:fs/promises';
import type { WorkflowClient } from '@temporalio/client';
import proto from '@temporalio/proto';
import {
  formatAmount,
  formatResources,
  resourcesInIdentity,
  servedRootsInIdentity,
  shortfallOf,
  type MachineResources,
  type Resources,
} from '../model/requirements.js';
import type { BatchState } from '../model/types.js';
import { isInside } from '../paths.js';

/** Temporal forgets a poller 5 min after its last poll; a live worker polls again within about a minute. */
const LIVE_POLLER_MS = 3 * 60_000;

export interface WaitingExperiment {
  name: string;
  /** What it requires, as `gpu=2, mem=16G`. */
  needs: string;
  /** Why it waits: `no live worker has it`, with the closest machines' shortfall. */
  reason: string;
}

type WorkflowService = WorkflowClient['workflowService'];

export interface Poller {
  identity: string;
  /** When the server last saw it start or end a poll (epoch ms). */
  lastPollAt: number;
}

/** The workers that polled the task queue's workflows in the last 5 min (Temporal's memory), newest first. */
export async function workflowPollers(service: WorkflowService, namespace: string, taskQueue: string) {
  const response = await service.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const pollers = (response.pollers ?? []).map((poller): Poller => ({
    identity: poller.identity ?? '',
    lastPollAt: Number(poller.lastAccessTime?.seconds ?? 0) * 1000,
  }));
  return pollers.sort((a, b) => b.lastPollAt - a.lastPollAt);
}

/** The task queue's pollers, asked for once and shared by their readers; undefined when the server did not answer. */
export type AskedPollers = Promise<Poller[] | undefined>;

/** The workers polling the task queue's workflows, newest first; undefined when the server does not answer. */
export function askPollers(
  client: { workflowService: WorkflowService; options: { namespace: string } },
  taskQueue: string,
): AskedPollers {
  return workflowPollers(client.workflowService, client.options.namespace, taskQueue).catch(() => undefined);
}

/** The identities of the workers polling the task queue recently (every live worker polls its workflows). */
export async function livePollerIdentities(
  service: WorkflowService,
  namespace: string,
  taskQueue: string,
  now = Date.now(),
): Promise<string[]> {
  const pollers = await workflowPollers(service, namespace, taskQueue);
  return pollers.filter((poller) => now - poller.lastPollAt <= LIVE_POLLER_MS).map((poller) => poller.identity);
}

/** The resources of each worker polling the task queue recently; a worker that declares none has none. */
export async function liveMachines(
  client: WorkflowClient,
  taskQueue: string,
  now = Date.now(),
): Promise<MachineResources[]> {
  const identities = await livePollerIdentities(client.workflowService, client.options.namespace, taskQueue, now);
  return identities.map((identity) => resourcesInIdentity(identity) ?? { counted: {}, capabilities: [] });
}

/** Whether a worker serving `roots` runs scripts of each of `dirs` (real paths; `/a/bc` is not in `/a/b`). */
export function servesAll(roots: readonly string[], dirs: readonly string[]): boolean {
  return dirs.every((dir) => roots.some((root) => isInside(root, dir)));
}

/**
 * Why no live worker on the task queue runs scripts of `dirs`, or undefined when one may (or the server does
 * not answer, or a worker does not say what it serves).
 */
export async function unservedReason(
  service: WorkflowService,
  namespace: string,
  taskQueue: string,
  dirs: readonly string[],
): Promise<string | undefined> {
  const identities = await livePollerIdentities(service, namespace, taskQueue).catch(() => undefined);
  return identities && unservedAmong(identities, taskQueue, dirs);
}

function unservedAmong(identities: string[], taskQueue: string, dirs: readonly string[]): string | undefined {
  if (!identities.length) return undefined;
  const served = identities.map(servedRootsInIdentity);
  if (served.some((roots) => !roots || servesAll(roots, dirs))) return undefined;
  const all = [...new Set(served.flat() as string[])].sort();
  return `no live worker on task queue "${taskQueue}" serves ${dirs.join(' and ')} (they serve ${all.join(', ')})`;
}

/**
 * Queued experiments no live worker can run: those whose `Requires:` no live worker meets, and the started ones
 * of a batch whose directories no live worker serves (`--allow-dir`). Empty when the server does not answer.
 */
export async function waitingForMachines(client: WorkflowClient, state: BatchState): Promise<WaitingExperiment[]> {
  const queued = state.experiments.filter((_, index) => state.records[index].status === 'queued');
  if (!queued.length) return [];
  const { namespace } = client.options;
  const identities = await livePollerIdentities(client.workflowService, namespace, state.settings.taskQueue).catch(
    () => undefined,
  );
  if (!identities) return []; // the server did not answer: say nothing rather than something wrong
  const unserved = await unservedDirectories(identities, state);
  if (unserved) {
    const started = (index: number) => index < state.nextIndex && !state.deferred?.includes(index);
    return state.experiments.flatMap((experiment, index) =>
      started(index) && state.records[index].status === 'queued'
        ? [{ name: experiment.name, needs: unserved.needs, reason: unserved.reason }]
        : [],
    );
  }
  const machines = identities.map((identity) => resourcesInIdentity(identity) ?? { counted: {}, capabilities: [] });
  return queued.flatMap((experiment) => {
    const needs = experiment.requires;
    if (!needs || machines.some((machine) => !shortfallOf(needs, machine).length)) return [];
    return [
      { name: experiment.name, needs: formatResources(needs), reason: `no live worker has it${why(needs, machines)}` },
    ];
  });
}

/** The batch's directories, when the live workers all say what they serve and none serves them. */
async function unservedDirectories(identities: string[], state: BatchState) {
  const { experimentsDir, workDir } = state.settings;
  const dirs = await Promise.all([...new Set([experimentsDir, workDir])].map((dir) => realpath(dir).catch(() => dir)));
  const reason = unservedAmong(identities, state.settings.taskQueue, dirs);
  return reason ? { needs: `a worker serving ${dirs.join(' and ')}`, reason } : undefined;
}

/** ` (live workers have: gpu=1, no mem)`: the most any live worker has of each resource it lacks. */
function why(needs: Resources, machines: MachineResources[]): string {
  if (!machines.length) return ' (no worker is live)';
  const lacking = Object.keys(needs)
    .sort()
    .flatMap((name) => {
      if (machines.some((machine) => machine.capabilities.includes(name))) return [];
      const most = Math.max(0, ...machines.map((machine) => machine.counted[name] ?? 0));
      if (most >= needs[name]) return [];
      return [most ? `${name}=${formatAmount(most)}` : `no ${name}`];
    });
  return lacking.length ? ` (live workers have at most: ${lacking.join(', ')})` : ' (none has all of it at once)';
}
