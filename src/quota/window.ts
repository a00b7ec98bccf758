/**
 * A quota's sliding window, as its budget workflow keeps it: at most `effectiveLimit` calls granted
 * in any window, counted when granted. Pure and deterministic: the workflow passes the time in.
 */

/**
 * How long after the budget records a grant its call may be made. A grant occupies its window this
 * much longer, so that calls made up to this late still never put more than the limit in any window.
 * The agent drops a grant that took too long to reach it (quota/agent.ts): a slow worker must not
 * make a call later than this.
 */
export const GRANT_LIFETIME_MS = 500;

/** Without a Retry-After, a reported 429 pauses the quota this long. */
export const DEFAULT_PAUSE_MS = 30_000;

/** After a 429 while the budget was respected, the effective limit becomes this share of the calls in the window. */
export const LOWER_TO = 0.75;

export interface BudgetState {
  name: string;
  /** As declared (staged.config.json). */
  limit: number;
  windowMs: number;
  /** The declared limit, lowered when the provider answered 429 while it was respected. */
  effectiveLimit: number;
  /** Grants still inside a window, oldest first: [when (epoch ms), calls]. */
  grants: [number, number][];
  /** No calls are granted before this (epoch ms); 0 when not paused. */
  pausedUntil: number;
  /** Calls granted since the budget began. */
  grantedTotal: number;
  /** 429s reported since the budget began. */
  rateLimitedTotal: number;
}

export interface GrantRequest {
  calls: number;
  /** The limit as the asking batch declares it: a changed declaration replaces the budget's. */
  limit: number;
  windowMs: number;
}

export interface Grant {
  granted: number;
  /** When more may be granted (epoch ms, the budget's clock); absent when all were granted. */
  retryAt?: number;
}

export function newBudget(name: string, limit: number, windowMs: number): BudgetState {
  return {
    name,
    limit,
    windowMs,
    effectiveLimit: limit,
    grants: [],
    pausedUntil: 0,
    grantedTotal: 0,
    rateLimitedTotal: 0,
  };
}

const occupiedUntil = (budget: BudgetState, grantedAt: number) => grantedAt + budget.windowMs + GRANT_LIFETIME_MS;

/** Drops grants that no window starting now can contain. */
export function forgetExpired(budget: BudgetState, now: number): void {
  while (budget.grants.length && occupiedUntil(budget, budget.grants[0][0]) <= now) budget.grants.shift();
}

export function callsInWindow(budget: BudgetState, now: number): number {
  forgetExpired(budget, now);
  return budget.grants.reduce((sum, [, calls]) => sum + calls, 0);
}

/** Grants as many of the calls as the window allows now, and says when to ask again for the rest. */
export function grantCalls(budget: BudgetState, request: GrantRequest, now: number): Grant {
  if (request.limit !== budget.limit || request.windowMs !== budget.windowMs) {
    budget.limit = request.limit;
    budget.windowMs = request.windowMs;
    budget.effectiveLimit = request.limit;
  }
  if (budget.pausedUntil > now) return { granted: 0, retryAt: budget.pausedUntil };
  const available = budget.effectiveLimit - callsInWindow(budget, now);
  const granted = Math.max(0, Math.min(request.calls, available));
  if (granted > 0) {
    const last = budget.grants.at(-1);
    if (last && last[0] === now) last[1] += granted;
    else budget.grants.push([now, granted]);
    budget.grantedTotal += granted;
  }
  if (granted === request.calls) return { granted };
  return { granted, retryAt: nextRoomAt(budget, request.calls - granted, now) };
}

/** When enough grants will have left the window for `calls` more. */
function nextRoomAt(budget: BudgetState, calls: number, now: number): number {
  let room = budget.effectiveLimit - callsInWindow(budget, now);
  for (const [grantedAt, granted] of budget.grants) {
    room += granted;
    if (room >= Math.min(calls, budget.effectiveLimit)) return occupiedUntil(budget, grantedAt);
  }
  return now + budget.windowMs;
}

/**
 * A 429 from the provider pauses the quota everywhere; when it came though the budget was respected,
 * the provider's real limit is lower than declared (or shared), so the effective limit comes down.
 */
export function reportRateLimited(budget: BudgetState, retryAfterMs: number | undefined, now: number): void {
  budget.rateLimitedTotal++;
  const alreadyPaused = budget.pausedUntil > now;
  budget.pausedUntil = Math.max(budget.pausedUntil, now + (retryAfterMs ?? DEFAULT_PAUSE_MS));
  if (alreadyPaused) return; // one lowering per pause: a burst of 429s is one signal from the provider
  const used = callsInWindow(budget, now);
  if (used <= budget.effectiveLimit) {
    budget.effectiveLimit = Math.max(1, Math.min(budget.effectiveLimit, Math.floor(used * LOWER_TO)));
  }
}

/** Pauses by hand (`staged quota pause`): nothing is granted before `until`; no 429 is counted, no limit lowered. */
export function pauseUntil(budget: BudgetState, until: number): void {
  budget.pausedUntil = until;
}

/** What status and the Web UI show of a quota. */
export interface BudgetView {
  name: string;
  limit: number;
  windowMs: number;
  effectiveLimit: number;
  callsInWindow: number;
  pausedUntil: number | null;
  grantedTotal: number;
  rateLimitedTotal: number;
}

export function budgetView(budget: BudgetState, now: number): BudgetView {
  const { name, limit, windowMs, effectiveLimit, grantedTotal, rateLimitedTotal } = budget;
  const pausedUntil = budget.pausedUntil > now ? budget.pausedUntil : null;
  return {
    name,
    limit,
    windowMs,
    effectiveLimit,
    callsInWindow: callsInWindow(budget, now),
    pausedUntil,
    grantedTotal,
    rateLimitedTotal,
  };
}
