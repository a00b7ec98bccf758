/**
 * A quota's sliding window, as its budget workflow keeps it: at most `effectiveLimit` calls granted
 * in any window, counted when granted. Pure and deterministic: the workflow passes the time in.
 */
import type { Notification } from '../model/notifications.js';

/**
 * How long after the budget records a grant its call may be made. A grant occupies its window this
 * much longer, so that calls made up to this late still never put more than the limit in any window.
 * The agent drops a grant that took too long to reach it (quota/agent.ts): a slow worker must not
 * make a call later than this. Once the agent settles a grant (see GrantRequest.settled), it occupies
 * its window only as long as its calls really may have come after it.
 */
export const GRANT_LIFETIME_MS = 500;

/** Without a Retry-After, a reported 429 pauses the quota this long (budgets of RULES_AIMD: at most this). */
const DEFAULT_PAUSE_MS = 30_000;

/** Without a Retry-After, a budget of RULES_AIMD pauses this share of its window (at most DEFAULT_PAUSE_MS). */
const PAUSE_SHARE_OF_WINDOW = 0.25;

/** After a 429 while the budget was respected, the effective limit becomes this share of the calls in the window. */
const LOWER_TO = 0.75;

/**
 * Budget rules: 1 (or absent), a 429 lowered the limit for good; 2, AIMD: lowered at most by half per 429,
 * never below LOWEST_SHARE of the declared limit, and raised again by each window that used the limit
 * without a 429 (an idle window says nothing of the provider's limit: the lowering outlives a quiet night).
 */
export const RULES_AIMD = 2;
/** The effective limit never goes below this share of the declared one (at least 1 call). */
const LOWEST_SHARE = 0.1;
/** Raised by this share of the declared limit per window at the limit, up to KNEE_SHARE of the level of the 429... */
const FAST_STEP_SHARE = 0.05;
/** ...then by this share, up to one call below that level... */
const SLOW_STEP_SHARE = 0.01;
/** ...where it holds this many windows at the limit before probing above it again, by SLOW_STEP_SHARE a window. */
const HOLD_WINDOWS = 20;
/** Below this share of the level a 429 came at, the limit climbs back fast. */
const KNEE_SHARE = 0.9;
/** Limit events kept for `quota show`. */
const HISTORY_KEPT = 10;

/** A change of the effective limit or the declaration, as `quota show` lists it. */
export interface LimitEvent {
  at: number;
  event: 'lowered' | 'reset' | 'declared';
  /** The effective limit after the event. */
  limit: number;
  /** The effective limit before it. */
  before: number;
  /** lowered: the calls in the window when the 429 came. */
  callsInWindow?: number;
  /** declared: the declaration before and after, as `N/<ms>`. */
  declaration?: { limit: number; windowMs: number; beforeLimit: number; beforeWindowMs: number };
}

/** After a lowering: `base`, raised by each window that used the limit without a 429 (`climb`). */
interface Recovery {
  base: number;
  /** The level the 429 came at (calls in the window): the climb slows down near it; absent, it climbs fast. */
  from?: number;
  /** Windows that used the limit without a 429 since the lowering. */
  steps: number;
  /** The window being watched began then (the pause's end, or the first ask after the last window ended). */
  windowStart: number;
  /** Whether an ask of this window was cut short by the limit. */
  atLimit: boolean;
}

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
  /** RULES_AIMD, set by budgets whose workflow has the patch; absent: the legacy rules. */
  rules?: number;
  /** While the effective limit climbs back to the declared one (RULES_AIMD). */
  recovery?: Recovery;
  /** The latest limit events, oldest first (RULES_AIMD). */
  history?: LimitEvent[];
  /** When `submit` last wrote the declaration (epoch ms); then agents' asks no longer change it. */
  declaredAt?: number;
  hosts?: string[];
  maxConcurrent?: number;
  /** Sent when a 429 pauses the quota (the latest submit's, `Declaration.notifications`); absent when none. */
  notifications?: Notification[];
  /** Where their commands run. */
  notifyWorkDir?: string;
}

/**
 * [when (epoch ms), calls, how long after `when` its calls may be made (ms), its id]. Grants recorded
 * before settling existed have neither of the last two: they live GRANT_LIFETIME_MS and cannot be settled.
 */
type GrantEntry = [at: number, calls: number, lifetimeMs?: number, id?: number];

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
  /**
   * Sent only by agents before the budget owned its quota (from their batch's declaration): a budget no submit
   * declared takes it. Today's agents send neither: the budget's own declaration rules.
   */
  limit?: number;
  windowMs?: number;
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

export function newBudget(name: string, limit: number, windowMs: number, rules?: number): BudgetState {
  return {
    ...(rules === undefined ? {} : { rules }),
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
  const { limit, windowMs } = request;
  if (typeof limit === 'number' && typeof windowMs === 'number') {
    if (budget.rules !== RULES_AIMD) {
      if (limit !== budget.limit || windowMs !== budget.windowMs) {
        budget.limit = limit;
        budget.windowMs = windowMs;
        budget.effectiveLimit = limit;
      }
    } else if (budget.declaredAt === undefined) {
      // declared by no submit yet (an agent of a batch submitted before budgets owned their declaration): the ask's
      declare(budget, { limit, windowMs }, now);
    }
  }
  settle(budget, request.settled);
  if (budget.pausedUntil > now) return { granted: 0, retryAt: budget.pausedUntil };
  const available = effectiveLimitAt(budget, now) - callsInWindow(budget, now);
  const granted = Math.max(0, Math.min(request.calls, available));
  const grant: Grant = { granted };
  if (granted > 0) {
    budget.grantedTotal += granted;
    grant.id = budget.grantedTotal; // unique: the total only grows, and continue-as-new carries it
    grant.at = now;
    budget.grants.push([now, granted, GRANT_LIFETIME_MS, grant.id]);
  }
  if (granted < request.calls) grant.retryAt = nextRoomAt(budget, request.calls - granted, now);
  watchWindow(budget, now, granted < request.calls);
  return grant;
}

/** When enough grants will have left the window for `calls` more. */
function nextRoomAt(budget: BudgetState, calls: number, now: number): number {
  const effectiveLimit = effectiveLimitAt(budget, now);
  let room = effectiveLimit - callsInWindow(budget, now);
  const leaving = budget.grants
    .map((grant): [number, number] => [occupiedUntil(budget, grant), grant[1]])
    .sort(([a], [b]) => a - b);
  for (const [until, granted] of leaving) {
    room += granted;
    if (room >= Math.min(calls, effectiveLimit)) return until;
  }
  return now + budget.windowMs;
}

/**
 * A 429 from the provider pauses the quota everywhere; when it came though the budget was respected,
 * the provider's real limit is lower than declared (or shared), so the effective limit comes down.
 */
export function reportRateLimited(budget: BudgetState, retryAfterMs: number | undefined, now: number): void {
  if (budget.rules === RULES_AIMD) return reportRateLimitedAimd(budget, retryAfterMs, now);
  budget.rateLimitedTotal++;
  const alreadyPaused = budget.pausedUntil > now;
  budget.pausedUntil = Math.max(budget.pausedUntil, now + (retryAfterMs ?? DEFAULT_PAUSE_MS));
  if (alreadyPaused) return; // one lowering per pause: a burst of 429s is one signal from the provider
  const used = callsInWindow(budget, now);
  if (used <= budget.effectiveLimit) {
    budget.effectiveLimit = Math.max(1, Math.min(budget.effectiveLimit, Math.floor(used * LOWER_TO)));
  }
}

/** How long a 429 without Retry-After pauses a budget of RULES_AIMD: a share of its window. */
function defaultPauseMs(windowMs: number): number {
  return Math.min(DEFAULT_PAUSE_MS, Math.ceil(windowMs * PAUSE_SHARE_OF_WINDOW));
}

const lowestLimit = (budget: BudgetState) => Math.max(1, Math.ceil(budget.limit * LOWEST_SHARE));
const step = (budget: BudgetState, share: number) => Math.max(1, Math.round(budget.limit * share));

/**
 * The effective limit after `steps` windows at the limit: fast up to KNEE_SHARE of the level the 429 came
 * at, slowly up to one call below it, held there HOLD_WINDOWS windows, then probing upward slowly.
 */
function climb(budget: BudgetState, recovery: Recovery, steps: number): number {
  const { base, from } = recovery;
  const fast = step(budget, FAST_STEP_SHARE);
  const slow = step(budget, SLOW_STEP_SHARE);
  let level = base;
  let held = 0;
  for (let window = 0; window < steps && level < budget.limit; window++) {
    if (from === undefined || level < Math.floor(from * KNEE_SHARE)) level += fast;
    else if (level < from - 1) level = Math.min(from - 1, level + slow);
    else if (held < HOLD_WINDOWS) held++;
    else level += slow;
  }
  return Math.min(budget.limit, level);
}

/** The windows at the limit so far, the one under watch included once it has ended. */
function stepsAt(budget: BudgetState, recovery: Recovery, now: number): number {
  return recovery.steps + (recovery.atLimit && now >= recovery.windowStart + budget.windowMs ? 1 : 0);
}

/** The effective limit at `now`: after a lowering, raised by each window that used it without a 429. */
export function effectiveLimitAt(budget: BudgetState, now: number): number {
  const { recovery } = budget;
  if (budget.rules !== RULES_AIMD || !recovery) return budget.effectiveLimit;
  return climb(budget, recovery, stepsAt(budget, recovery, now));
}

/** An ask at `now`, cut short by the limit or not: ends the window under watch if it is over, and counts it. */
function watchWindow(budget: BudgetState, now: number, atLimit: boolean): void {
  const { recovery } = budget;
  if (budget.rules !== RULES_AIMD || !recovery || now < recovery.windowStart) return;
  if (now >= recovery.windowStart + budget.windowMs) {
    recovery.steps = stepsAt(budget, recovery, now);
    recovery.windowStart = now;
    recovery.atLimit = false;
  }
  if (atLimit) recovery.atLimit = true;
  budget.effectiveLimit = climb(budget, recovery, recovery.steps);
  if (budget.effectiveLimit >= budget.limit) budget.recovery = undefined;
}

/** A recovery from `base`, watching windows from `since`. */
const recoveryFrom = (base: number, since: number, from: number | undefined): Recovery => ({
  base,
  ...(from === undefined ? {} : { from }),
  steps: 0,
  windowStart: since,
  atLimit: false,
});

function recordEvent(budget: BudgetState, event: LimitEvent): void {
  budget.history = [...(budget.history ?? []), event].slice(-HISTORY_KEPT);
}

/**
 * AIMD: a 429 while the budget was respected cuts the limit to LOWER_TO of the calls in the window, but
 * at most by half (a 429 with few calls in the window says little of the provider's limit) and never
 * below LOWEST_SHARE of the declared limit; each window without a 429 after the pause raises it again.
 */
function reportRateLimitedAimd(budget: BudgetState, retryAfterMs: number | undefined, now: number): void {
  budget.rateLimitedTotal++;
  const alreadyPaused = budget.pausedUntil > now;
  budget.pausedUntil = Math.max(budget.pausedUntil, now + (retryAfterMs ?? defaultPauseMs(budget.windowMs)));
  const current = effectiveLimitAt(budget, now);
  budget.effectiveLimit = current;
  // a 429 ends the climb where it is: windows count again from the pause's end
  if (budget.recovery) budget.recovery = recoveryFrom(current, budget.pausedUntil, budget.recovery.from);
  if (alreadyPaused) return; // one lowering per pause: a burst of 429s is one signal from the provider
  const used = callsInWindow(budget, now);
  if (used > current) return; // calls beyond the budget's own limit: the 429 says nothing of the provider's
  const lowered = Math.max(lowestLimit(budget), Math.floor(Math.max(used * LOWER_TO, current / 2)));
  if (lowered >= current) return;
  // few calls in the window say nothing of where the provider's limit is: climb back fast all the way
  const from = used >= current / 2 ? used : undefined;
  budget.effectiveLimit = lowered;
  budget.recovery = recoveryFrom(lowered, budget.pausedUntil, from);
  recordEvent(budget, { at: now, event: 'lowered', limit: lowered, before: current, callsInWindow: used });
}

/** `staged quota reset`: back to the declared limit, and no pause. */
export function resetLimit(budget: BudgetState, now: number): void {
  const before = effectiveLimitAt(budget, now);
  budget.effectiveLimit = budget.limit;
  budget.recovery = undefined;
  budget.pausedUntil = 0;
  recordEvent(budget, { at: now, event: 'reset', limit: budget.limit, before });
}

export interface Declaration {
  limit: number;
  windowMs: number;
  hosts?: string[];
  maxConcurrent?: number;
  /** Sent by a run of a batch submitted before budgets owned their quotas: it counts only while no submit declared. */
  fromBatch?: boolean;
  /** The submitting project's notifications for `quota-paused` (empty: none any more); absent: left as they are. */
  notifications?: Notification[];
  /** Where their commands run: the submit's work directory. */
  workDir?: string;
}

/** What the budget says of its quota (from its state, as its view carries it): what runs and slot requests go by. */
export interface DeclaredQuota {
  limit: number;
  windowMs: number;
  /** Absent until a submit declared the quota (a budget started by an older release's agent or batch). */
  hosts?: string[];
  maxConcurrent?: number;
}

export function declaredQuota(budget: BudgetState): DeclaredQuota {
  const { limit, windowMs, hosts, maxConcurrent } = budget;
  return { limit, windowMs, ...(hosts ? { hosts } : {}), ...(maxConcurrent !== undefined ? { maxConcurrent } : {}) };
}

/**
 * Writes the quota's declaration (at submit): a changed one is an event of the history. The lowering a
 * 429 taught is kept (capped by the new limit) while the window stays the same, and climbs back from there.
 * Not by submit (an older batch's), it counts only while no submit has declared the quota.
 */
export function declare(budget: BudgetState, declaration: Declaration, now: number, bySubmit = false): boolean {
  const { limit, windowMs } = declaration;
  if (!bySubmit && budget.declaredAt !== undefined) return false;
  if (bySubmit) {
    budget.declaredAt = now;
    budget.hosts = declaration.hosts;
    if (declaration.maxConcurrent === undefined) delete budget.maxConcurrent;
    else budget.maxConcurrent = declaration.maxConcurrent;
    if (declaration.notifications) setNotifications(budget, declaration.notifications, declaration.workDir);
  }
  if (limit === budget.limit && windowMs === budget.windowMs) return false;
  const before = effectiveLimitAt(budget, now);
  const lowered = before < budget.limit && windowMs === budget.windowMs;
  const event: LimitEvent = {
    at: now,
    event: 'declared',
    limit: 0,
    before,
    declaration: { limit, windowMs, beforeLimit: budget.limit, beforeWindowMs: budget.windowMs },
  };
  budget.limit = limit;
  budget.windowMs = windowMs;
  budget.effectiveLimit = lowered ? Math.min(before, limit) : limit;
  budget.recovery =
    budget.effectiveLimit < limit ? recoveryFrom(budget.effectiveLimit, now, budget.recovery?.from) : undefined;
  event.limit = budget.effectiveLimit;
  recordEvent(budget, event);
  return true;
}

/** Who hears of the budget's pauses, as a declaration sets it (and a new budget starts with it). */
export function setNotifications(budget: BudgetState, notifications: Notification[], workDir?: string): void {
  delete budget.notifications;
  delete budget.notifyWorkDir;
  if (!notifications.length) return;
  budget.notifications = notifications;
  if (workDir !== undefined) budget.notifyWorkDir = workDir;
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
  /** While lowered: the windows that used the limit without a 429 since the lowering (each may raise it). */
  windowsAtLimit?: number;
  /** The latest limit events, oldest first. */
  history?: LimitEvent[];
  /** When `submit` last wrote the declaration. */
  declaredAt?: number;
  /** The whole state, for a view computed at the reader's now rather than the workflow's clock (budgetView). */
  state?: BudgetState;
}

export function budgetView(budget: BudgetState, now: number): BudgetView {
  const { name, limit, windowMs, grantedTotal, rateLimitedTotal, history, declaredAt } = budget;
  const pausedUntil = budget.pausedUntil > now ? budget.pausedUntil : null;
  const effectiveLimit = effectiveLimitAt(budget, now);
  return {
    name,
    limit,
    windowMs,
    effectiveLimit,
    callsInWindow: callsInWindow({ ...budget }, now),
    pausedUntil,
    grantedTotal,
    rateLimitedTotal,
    ...(budget.recovery ? { windowsAtLimit: stepsAt(budget, budget.recovery, now) } : {}),
    ...(history?.length ? { history } : {}),
    ...(declaredAt !== undefined ? { declaredAt } : {}),
  };
}

/** A view as the budget answered it, recomputed at the reader's `now` when the answer carries the state. */
export function viewNow<V extends BudgetView>(answered: V, now: number): V {
  return answered.state ? { ...answered, ...budgetView(answered.state, now), state: undefined } : answered;
}
