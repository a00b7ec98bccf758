/**
 * A quota's sliding window, as its budget workflow keeps it: at most `effectiveLimit` calls granted
 * in any window, counted when granted. Pure and deterministic: the workflow passes the time in.
 */

/**
 * How long after the budget records a grant its call may be made. A grant occupies its window this
 * much longer, so that calls made up to this late still never put more than the limit in any window.
 * The agent drops a grant that took too long to reach it (quota/agent.ts): a slow worker must not
 * make a call later than this. Once the agent settles a grant (see GrantRequest.settled), it occupies
 * its window only as long as its calls really may have come after it.
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
  /** Grants still inside a window, oldest first. */
  grants: GrantEntry[];
  /** No calls are granted before this (epoch ms); 0 when not paused. */
  pausedUntil: number;
  /** Calls granted since the budget began. */
  grantedTotal: number;
  /** 429s reported since the budget began. */
  rateLimitedTotal: number;
}

/**
 * [when (epoch ms), calls, how long after `when` its calls may be made (ms), its id]. Grants recorded
 * before settling existed have neither of the last two: they live GRANT_LIFETIME_MS and cannot be settled.
 */
export type GrantEntry = [at: number, calls: number, lifetimeMs?: number, id?: number];

/** What became of a grant once it reached its agent: sent once, with the agent's next ask. */
export interface SettledGrant {
  id: number;
  /** The grant's date, as answered: with the id, it names one grant even across a budget started again. */
  at: number;
  /** Calls handed to waiting calls; the others were dropped, never made. */
  used: number;
  /** The used calls were made at most this long after the budget recorded the grant (the agent's bound). */
  withinMs: number;
}

export interface GrantRequest {
  calls: number;
  /** The limit as the asking batch declares it: a changed declaration replaces the budget's. */
  limit: number;
  windowMs: number;
  /** The asking agent's earlier grants, settled: each then occupies its window less (or not at all). */
  settled?: SettledGrant[];
}

export interface Grant {
  granted: number;
  /** Name the grant when the agent settles it; absent when nothing was granted. */
  id?: number;
  at?: number;
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

const occupiedUntil = (budget: BudgetState, [at, , lifetimeMs = GRANT_LIFETIME_MS]: GrantEntry) =>
  at + budget.windowMs + lifetimeMs;

/** Drops grants that no window starting now can contain. */
export function forgetExpired(budget: BudgetState, now: number): void {
  budget.grants = budget.grants.filter((grant) => occupiedUntil(budget, grant) > now);
}

/**
 * A settled grant occupies its window only as long as its used calls may have come after it; one with no
 * calls used leaves it. Only ever narrows: an agent that crashed before settling leaves its grants as they are.
 */
function settle(budget: BudgetState, settled: SettledGrant[] | undefined): void {
  if (!Array.isArray(settled)) return;
  for (const { id, at, used, withinMs } of settled) {
    const grant =
      typeof id === 'number' ? budget.grants.find((entry) => entry[3] === id && entry[0] === at) : undefined;
    if (!grant || !Number.isInteger(used) || !(withinMs >= 0)) continue;
    grant[1] = Math.min(grant[1], Math.max(0, used));
    grant[2] = Math.min(grant[2] ?? GRANT_LIFETIME_MS, withinMs);
  }
  budget.grants = budget.grants.filter(([, calls]) => calls > 0);
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
  settle(budget, request.settled);
  if (budget.pausedUntil > now) return { granted: 0, retryAt: budget.pausedUntil };
  const available = budget.effectiveLimit - callsInWindow(budget, now);
  const granted = Math.max(0, Math.min(request.calls, available));
  const grant: Grant = { granted };
  if (granted > 0) {
    budget.grantedTotal += granted;
    grant.id = budget.grantedTotal; // unique: the total only grows, and continue-as-new carries it
    grant.at = now;
    budget.grants.push([now, granted, GRANT_LIFETIME_MS, grant.id]);
  }
  if (granted < request.calls) grant.retryAt = nextRoomAt(budget, request.calls - granted, now);
  return grant;
}

/** When enough grants will have left the window for `calls` more. */
function nextRoomAt(budget: BudgetState, calls: number, now: number): number {
  let room = budget.effectiveLimit - callsInWindow(budget, now);
  const leaving = budget.grants
    .map((grant): [number, number] => [occupiedUntil(budget, grant), grant[1]])
    .sort(([a], [b]) => a - b);
  for (const [until, granted] of leaving) {
    room += granted;
    if (room >= Math.min(calls, budget.effectiveLimit)) return until;
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
