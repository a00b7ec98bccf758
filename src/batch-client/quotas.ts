/** The quota budgets a batch draws from, as their workflows answer (a worker must be running). */
import type { WorkflowClient } from '@temporalio/client';
import type { QuotaView } from '../quota/slots.js';
import type { BatchState } from '../shared/types.js';
import { BUDGET_QUERY, budgetWorkflowId } from './workflow-names.js';

/** One view per quota of the batch; a budget not started yet (no call asked) or not answering is left out. */
export async function quotaViews(client: WorkflowClient, state: BatchState): Promise<QuotaView[]> {
  const names = Object.keys(state.settings.quotas ?? {});
  const views = await Promise.all(
    names.map((name) =>
      client
        .getHandle(budgetWorkflowId(state.settings.taskQueue, name))
        .query<QuotaView>(BUDGET_QUERY)
        .catch(() => undefined),
    ),
  );
  return views.filter((view): view is QuotaView => view !== undefined);
}
