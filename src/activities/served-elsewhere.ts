/**
 * Where a run goes that this worker does not serve (`--allow-dir`): the own queue of a live worker of the task
 * queue whose identity says it serves the run's directories and whose machine has what the run requires.
 */
import { realpath } from 'node:fs/promises';
import type { Context } from '@temporalio/activity';
import { livePollerIdentities, servesAll } from '../batch-client/machines.js';
import {
  hostQueueOf,
  machineIdInIdentity,
  resourcesInIdentity,
  servedRootsInIdentity,
  shortfallOf,
} from '../shared/requirements.js';
import type { RunInput } from '../shared/types.js';

/** The own queue of one such worker (chosen at random: the load spreads), or undefined when none is live. */
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
  const machines = identities.flatMap((identity) => {
    const machineId = machineIdInIdentity(identity);
    const roots = servedRootsInIdentity(identity);
    if (!machineId || machineId === ownMachineId || !roots || !servesAll(roots, dirs)) return [];
    const resources = resourcesInIdentity(identity) ?? { counted: {}, capabilities: [] };
    return experiment.requires && shortfallOf(experiment.requires, resources).length ? [] : [machineId];
  });
  if (!machines.length) return undefined;
  return hostQueueOf(settings.taskQueue, machines[Math.floor(Math.random() * machines.length)]);
}
