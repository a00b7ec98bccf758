/**
 * One quota's budget, shared by every batch and machine of the namespace and task queue (workflow id
 * `staged-quota/<task queue>/<name>`, run on that queue): workers' quota agents ask it for calls by
 * update, and it grants at most the limit in any window; a reported 429 pauses it. Long-lived: it
 * continues as new when its history grows, carrying only the grants still inside a window.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  budgetView,
  forgetExpired,
  grantCalls,
  pauseUntil,
  reportRateLimited,
  type BudgetState,
  type BudgetView,
  type Grant,
  type GrantRequest,
} from '../quota/window.js';

export const grantCallsUpdate = defineUpdate<Grant, [GrantRequest]>('grantCalls');
export const rateLimitedSignal = defineSignal<[{ retryAfterMs?: number }]>('rateLimited');
export const budgetQuery = defineQuery<BudgetView>('budget');
/** A pause set by hand: until that time (epoch ms), or, with 0, ended now. */
export const pauseSignal = defineSignal<[{ untilMs: number }]>('pause');

/** Updates add about five events each: continue well before Temporal's 10,240-event warning. */
const HISTORY_LIMIT = 4_000;

/** Workers of another task queue (another deployment) could not run this budget: each queue has its own. */
export function budgetWorkflowId(taskQueue: string, quota: string): string {
  return `staged-quota/${taskQueue}/${quota}`;
}

export async function quotaBudgetWorkflow(budget: BudgetState): Promise<void> {
  setHandler(grantCallsUpdate, (request) => grantCalls(budget, request, Date.now()), {
    validator: (request: GrantRequest) => {
      if (!Number.isInteger(request.calls) || request.calls < 1) throw new Error('calls must be an integer ≥ 1');
      if (!(request.limit >= 1) || !(request.windowMs > 0)) throw new Error('a limit and a window are required');
    },
  });
  setHandler(rateLimitedSignal, ({ retryAfterMs }) => reportRateLimited(budget, retryAfterMs, Date.now()));
  setHandler(budgetQuery, () => budgetView(budget, Date.now()));
  setHandler(pauseSignal, ({ untilMs }) => pauseUntil(budget, untilMs));
  await condition(() => workflowInfo().historyLength > HISTORY_LIMIT || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  forgetExpired(budget, Date.now());
  await continueAsNew<typeof quotaBudgetWorkflow>(budget);
}
