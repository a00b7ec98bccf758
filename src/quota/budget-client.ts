/** A worker's calls to the quota budget workflows: grant by update (starting the budget if need be), report 429s. */
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { QuotaDeclaration } from '../model/types.js';
import { BUDGET_WORKFLOW, budgetWorkflowId, grantCallsUpdate, rateLimitedSignal } from '../protocol/quota-budget.js';
import { newBudget, type Grant, type SettledGrant } from '../budget/window.js';

export class BudgetClient {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  /** Budgets known to exist: asked by plain update, which costs one call where update-with-start costs more. */
  private readonly started = new Set<string>();

  /** `settled`: this agent's earlier grants of the quota, each sent once (window.ts, GrantRequest). */
  async grant(
    quota: string,
    declaration: QuotaDeclaration,
    calls: number,
    settled: SettledGrant[] = [],
  ): Promise<Grant> {
    const { limit, windowMs } = declaration;
    if (this.started.has(quota)) {
      try {
        const handle = this.client.workflow.getHandle(budgetWorkflowId(this.taskQueue, quota));
        return await handle.executeUpdate(grantCallsUpdate, { args: [{ calls, limit, windowMs, settled }] });
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        this.started.delete(quota); // terminated by hand, or past retention: start it again
      }
    }
    const startWorkflowOperation = new WithStartWorkflowOperation(BUDGET_WORKFLOW, {
      workflowId: budgetWorkflowId(this.taskQueue, quota),
      taskQueue: this.taskQueue,
      args: [newBudget(quota, limit, windowMs)],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    const grant = await this.client.workflow.executeUpdateWithStart(grantCallsUpdate, {
      args: [{ calls, limit, windowMs, settled }],
      startWorkflowOperation,
    });
    this.started.add(quota);
    return grant;
  }

  async reportRateLimited(quota: string, retryAfterMs: number | undefined): Promise<void> {
    await this.client.workflow
      .getHandle(budgetWorkflowId(this.taskQueue, quota))
      .signal(rateLimitedSignal, { retryAfterMs });
  }
}
