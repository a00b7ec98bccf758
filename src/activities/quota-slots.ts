/** Activities behind quota slots: a slot from a budget that declares a `maxConcurrent`, and closed holders. */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { QuotaDeclaration } from '../model/types.js';
import { BUDGET_WORKFLOW, budgetWorkflowId, slotRequestSignal } from '../protocol/quota-budget.js';
import { NoBudgetError, type BudgetClient } from '../quota/budget-client.js';
import { newBudget } from '../budget/window.js';

export interface SlotAsk {
  quota: string;
  taskQueue: string;
  priorityKey: number;
}

/** As experiments of a batch submitted before the budgets owned their quotas ask: with their batch's declaration. */
export interface DeclaredSlotAsk extends SlotAsk {
  declaration: QuotaDeclaration;
  maxConcurrent: number;
}

/**
 * Asks a quota's budget for a slot for the calling experiment workflow when the budget declares a `maxConcurrent`;
 * the grant comes back by signal. Returns whether a slot was asked for (false: the quota caps nothing).
 */
export async function requestQuotaSlot(ask: SlotAsk | DeclaredSlotAsk, budgets: BudgetClient): Promise<boolean> {
  const context = Context.current();
  const holder = context.info.workflowExecution!.workflowId;
  const { quota, taskQueue, priorityKey } = ask;
  if ('declaration' in ask) {
    const { declaration, maxConcurrent } = ask;
    await context.client.workflow.signalWithStart(BUDGET_WORKFLOW, {
      workflowId: budgetWorkflowId(taskQueue, quota),
      taskQueue,
      args: [newBudget(quota, declaration.limit, declaration.windowMs)],
      signal: slotRequestSignal,
      signalArgs: [{ holder, priorityKey, maxConcurrent }],
    });
    return true;
  }
  let declared = await budgets.declared(quota);
  // "No cap" is asked afresh: a submit that just declared one must cap this experiment too
  if (declared && declared.maxConcurrent === undefined) declared = await budgets.declared(quota, { fresh: true });
  if (!declared) throw new NoBudgetError(quota); // retried by the workflow until a submit declares the quota
  if (declared.maxConcurrent === undefined) return false;
  await context.client.workflow.getHandle(budgetWorkflowId(taskQueue, quota)).signal(slotRequestSignal, {
    holder,
    priorityKey,
  });
  return true;
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
