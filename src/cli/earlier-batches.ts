/** What earlier batches tell a new submit: `--rerun-failed` and `--skip-completed`. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { batchSummary } from '../batch-handle.js';
import type { ExperimentSpec } from '../shared/types.js';
import { EXPERIMENT_KEY } from '../workflows/search-attributes.js';
import { UsageError } from './errors.js';

/** Names of the experiments of a finished batch that did not complete. */
export async function notCompletedIn(client: Client, batchId: string): Promise<Set<string>> {
  const handle = client.workflow.getHandle(batchId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UsageError(`--rerun-failed: no batch with id "${batchId}"`);
    throw err;
  }
  if (status === 'RUNNING') throw new UsageError(`--rerun-failed: batch "${batchId}" is still running; wait for it or cancel it`);
  if (status !== 'COMPLETED') throw new UsageError(`--rerun-failed: batch "${batchId}" ended ${status.toLowerCase()} without a summary`);
  const summary = await batchSummary(handle);
  return new Set(summary.experiments.filter((e) => e.status !== 'completed').map((e) => e.name));
}

/** Names of experiments that completed in any earlier batch, from the search attributes staged sets. */
export async function completedEarlier(client: Client): Promise<Set<string>> {
  const names = new Set<string>();
  const query = `WorkflowType = 'experimentWorkflow' AND StagedStatus = 'completed'`;
  for await (const workflow of client.workflow.list({ query })) {
    const name = workflow.typedSearchAttributes.get(EXPERIMENT_KEY);
    if (name) names.add(name);
  }
  return names;
}

export function keepOnly<T extends ExperimentSpec>(queue: T[], names: Set<string>, why: string): T[] {
  const kept = queue.filter((experiment) => names.has(experiment.name));
  if (!kept.length) throw new UsageError(`the selection matches no experiment ${why}`);
  return kept;
}

export function leaveOut<T extends ExperimentSpec>(queue: T[], names: Set<string>, why: string): T[] {
  const kept = queue.filter((experiment) => !names.has(experiment.name));
  if (!kept.length) throw new UsageError(`the selection matches no experiment ${why}`);
  return kept;
}
