/** Activities behind quota slots: asking a budget (started if need be) for a slot, and finding closed holders. */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { QuotaDeclaration } from '../model/types.js';
import { BUDGET_WORKFLOW, budgetWorkflowId, slotRequestSignal } from '../protocol/quota-budget.js';
import { newBudget } from '../budget/window.js';

interface SlotAsk {
  quota: string;
  declaration: QuotaDeclaration;
  maxConcurrent: number;
  taskQueue: string;
  priorityKey: number;
}

/** Asks a quota's budget for a slot for the calling experiment workflow; the grant comes back by signal. */
export async function requestQuotaSlot(ask: SlotAsk): Promise<void> {
  const context = Context.current();
  const { quota, declaration, maxConcurrent, taskQueue, priorityKey } = ask;
  await context.client.workflow.signalWithStart(BUDGET_WORKFLOW, {
    workflowId: budgetWorkflowId(taskQueue, quota),
    taskQueue,
    args: [newBudget(quota, declaration.limit, declaration.windowMs)],
    signal: slotRequestSignal,
    signalArgs: [{ holder: context.info.workflowExecution!.workflowId, priorityKey, maxConcurrent }],
  });
}

/** The workflows among `ids` that are closed or gone. */
export async function closedWorkflows(ids: string[]): Promise<string[]> {
  const { client } = Context.current();
  const closed = await Promise.all(
    ids.map(async (id) => {
      try {
        const { status } = await client.workflow.getHandle(id).describe();
        return status.name === 'RUNNING' ? undefined : id;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return id;
        throw err;
      }
    }),
  );
  return closed.filter((id): id is string => id !== undefined);
}
