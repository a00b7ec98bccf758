/**
 * A quota's budget workflow by name (one per quota and task queue) and its messages: what agents, activities,
 * `submit` and `staged quota` send it. The budget's rules live in src/budget/.
 */
import type { SlotRequest } from '../budget/slots.js';
import type { QuotaView } from '../budget/slots.js';
import type { Declaration, Grant, GrantRequest } from '../budget/window.js';
import { query, signal, update } from './define.js';

export const BUDGET_WORKFLOW = 'quotaBudgetWorkflow';

/** Workers of another task queue (another deployment) could not run this budget: each queue has its own. */
export function budgetWorkflowId(taskQueue: string, quota: string): string {
  return `staged-quota/${taskQueue}/${quota}`;
}

export const grantCallsUpdate = update<Grant, [GrantRequest]>('grantCalls');
export const rateLimitedSignal = signal<[{ retryAfterMs?: number }]>('rateLimited');
export const budgetQuery = query<QuotaView>('budget');
/** An experiment workflow asks for one of the quota's `maxConcurrent` slots (sent with start by an activity). */
export const slotRequestSignal = signal<[SlotRequest & { maxConcurrent: number }]>('slotRequest');
/** An experiment workflow gives its slot back, or withdraws its request, when it closes. */
export const slotReleaseSignal = signal<[{ holder: string }]>('slotRelease');

/** A pause set by hand: until that time (epoch ms), or, with 0, ended now. */
export const pauseSignal = signal<[{ untilMs: number }]>('pause');

/** `submit` writes the quota's declaration (signal-with-start): the budget owns it, agents' asks no longer do. */
export const declareSignal = signal<[Declaration]>('declare');

/** `staged quota reset`: the effective limit back to the declared one, and no pause. */
export const resetSignal = signal('reset');
