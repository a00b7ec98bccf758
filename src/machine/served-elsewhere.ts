/**
 * Where a run goes that this worker does not serve (`--allow-dir`): the queue of a live worker of the task queue
 * (on this machine or another) whose identity says it serves the run's directories and whose machine has what
 * the run requires.
 */
import { realpath } from 'node:fs/promises';
import type { Context } from '@temporalio/activity';
import { livePollerIdentities, servesAll } from '../batch-client/machines.js';
import { resourcesInIdentity, servedRootsInIdentity, shortfallOf, workerQueueOf } from '../model/requirements.js';
import type { RunInput } from '../model/types.js';

/** The queue of one such worker (chosen at random: the load spreads), or undefined when none is live. */
export async function queueOfServingWorker(
  context: Context,
  input: RunInput,
  ownMachineId: string,
): Promise<string | undefined> {
  const { settings, experiment } = input;
  const dirs = await Promise.all(
    [settings.experimentsDir, settings.workDir].map((dir) => realpath(dir).catch(() => dir)),
  );
  const identities = await livePollerIdentities(
    context.client.workflowService,
    context.info.activityNamespace,
    settings.taskQueue,
  ).catch(() => []);
  const ownIdentity = `${process.pid}@${ownMachineId}`;
  const serving = identities.filter((identity) => {
    const roots = servedRootsInIdentity(identity);
    if (identity.split(' ')[0] === ownIdentity || !roots || !servesAll(roots, dirs)) return false;
    const resources = resourcesInIdentity(identity) ?? { counted: {}, capabilities: [] };
    return !experiment.requires || !shortfallOf(experiment.requires, resources).length;
  });
  if (!serving.length) return undefined;
  return workerQueueOf(settings.taskQueue, serving[Math.floor(Math.random() * serving.length)]);
}
