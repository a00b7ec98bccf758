/**
 * Why an experiment whose workflow was terminated by hand (`temporal workflow terminate`) failed. Its batch learns
 * only that it was terminated (the server gives a parent no reason); the reason, and who gave it, are the last event
 * of the experiment's own history.
 */
import type { WorkflowClient } from '@temporalio/client';
import { EXPERIMENT_TERMINATED, EXPERIMENT_WORKFLOW_FAILED, experimentWorkflowId } from '../model/batch-state.js';
import type { ExperimentView } from '../model/types.js';
/** Each one costs a call: past this many, the rest keep the batch's words. */
const MAX_READ = 20;

/** `experiments`, each failed one whose workflow was terminated saying so, with the reason given. */
export async function withTerminations<T extends ExperimentView>(
  client: WorkflowClient,
  batchId: string,
  experiments: T[],
): Promise<T[]> {
  const failed = experiments
    .map((experiment, index) => ({ experiment, index }))
    .filter(({ experiment }) => experiment.status === 'failed' && mayBeTerminated(experiment.error))
    .slice(0, MAX_READ);
  const told = [...experiments];
  await Promise.all(
    failed.map(async ({ experiment, index }) => {
      const workflowId = experimentWorkflowId(batchId, experiment.name);
      const terminated = await terminationOf(client, workflowId).catch(() => undefined);
      if (terminated) told[index] = { ...experiment, error: terminated };
    }),
  );
  return told;
}

/** The batch's words for a terminated experiment, or (a batch of an earlier staged) for any failed workflow. */
const mayBeTerminated = (error: string | undefined) =>
  error === EXPERIMENT_TERMINATED || error?.startsWith(EXPERIMENT_WORKFLOW_FAILED) === true;

async function terminationOf(client: WorkflowClient, workflowId: string): Promise<string | undefined> {
  const { history } = await client.workflowService.getWorkflowExecutionHistoryReverse({
    namespace: client.options.namespace,
    execution: { workflowId },
    maximumPageSize: 1,
  });
  const terminated = history?.events?.[0]?.workflowExecutionTerminatedEventAttributes;
  if (!terminated) return undefined;
  const by = terminated.identity ? ` by ${terminated.identity}` : '';
  const reason = terminated.reason ? `, reason: "${terminated.reason}"` : ', no reason given';
  return `its experiment workflow was terminated${by}${reason}`;
}
