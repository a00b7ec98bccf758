/**
 * A worker's calls to the quota budget workflows: grant by update, report 429s, and what the budget declares
 * of its quota (cached a few seconds per worker). Only `submit` starts a budget with a declaration of its own;
 * a worker starts one only for a batch submitted before budgets owned their quotas (startForBatch).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { QuotaDeclaration } from '../model/types.js';
import {
  BUDGET_WORKFLOW,
  budgetQuery,
  budgetWorkflowId,
  declareSignal,
  grantCallsUpdate,
  rateLimitedSignal,
} from '../protocol/quota-budget.js';
import { declaredQuota, newBudget, type DeclaredQuota, type Grant, type SettledGrant } from '../budget/window.js';

/** How long a worker goes by what a budget said of its quota: a new submit's hosts reach new runs this soon. */
const DECLARATION_CACHE_MS = 10_000;

/** No budget answers for the quota: no submit declared it, or it was terminated. */
export class NoBudgetError extends Error {
  constructor(quota: string) {
    super(`quota ${quota} has no budget (terminated, or never declared): a submit using it declares it again`);
  }
}

export class BudgetClient {
  private readonly declarations = new Map<string, { at: number; declared: Promise<DeclaredQuota | undefined> }>();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  private handle(quota: string) {
    return this.client.workflow.getHandle(budgetWorkflowId(this.taskQueue, quota));
  }

  /**
   * `settled`: this agent's earlier grants of the quota, each sent once (window.ts, GrantRequest). The budget's own
   * limit and window go along: a budget still run by a release before 19 refuses an ask without them.
   */
  async grant(quota: string, calls: number, settled: SettledGrant[] = []): Promise<Grant> {
    const declared = await this.declared(quota);
    if (!declared) throw new NoBudgetError(quota);
    const { limit, windowMs } = declared;
    try {
      return await this.handle(quota).executeUpdate(grantCallsUpdate, { args: [{ calls, settled, limit, windowMs }] });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new NoBudgetError(quota);
      throw err;
    }
  }

  async reportRateLimited(quota: string, retryAfterMs: number | undefined): Promise<void> {
    await this.handle(quota).signal(rateLimitedSignal, { retryAfterMs });
  }

  /**
   * The quota as its budget declares it, asked at most every DECLARATION_CACHE_MS; undefined: no budget. Asked by
   * the budget's view, which every release's budget answers (one still run by an older worker, too).
   */
  async declared(quota: string, { fresh = false } = {}): Promise<DeclaredQuota | undefined> {
    const cached = this.declarations.get(quota);
    if (cached && !fresh && Date.now() - cached.at < DECLARATION_CACHE_MS) return cached.declared;
    const declared = this.handle(quota)
      .query(budgetQuery)
      .then((view) => (view.state ? declaredQuota(view.state) : { limit: view.limit, windowMs: view.windowMs }))
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        this.declarations.delete(quota); // not answered (no worker yet, say): asked again next time
        throw err;
      });
    this.declarations.set(quota, { at: Date.now(), declared });
    return declared;
  }

  /**
   * A batch submitted before budgets owned their quotas carries its own declaration: it starts a budget that
   * does not exist with it (its runs' asks no longer carry it), and never overrides one that a submit declared.
   */
  async startForBatch(quota: string, declaration: QuotaDeclaration): Promise<void> {
    const { limit, windowMs, hosts, maxConcurrent } = declaration;
    await this.client.workflow.signalWithStart(BUDGET_WORKFLOW, {
      workflowId: budgetWorkflowId(this.taskQueue, quota),
      taskQueue: this.taskQueue,
      args: [newBudget(quota, limit, windowMs)],
      signal: declareSignal,
      signalArgs: [
        { limit, windowMs, hosts, ...(maxConcurrent === undefined ? {} : { maxConcurrent }), fromBatch: true },
      ],
    });
    this.declarations.delete(quota);
  }
}
