/** The budget's sliding window: at most the limit in any window, whatever the order of asks. */
import {
  GRANT_LIFETIME_MS,
  RULES_AIMD,
  budgetView,
  callsInWindow,
  declare,
  effectiveLimitAt,
  grantCalls,
  newBudget,
  reportRateLimited,
  resetLimit,
  viewNow,
  type BudgetState,
  type SettledGrant,
} from '../../src/budget/window.js';

const ask = (calls: number, settled?: SettledGrant[]) => ({ calls, limit: 10, windowMs: 1_000, settled });

/** The most calls granted in any window of `windowMs`, from the grants as recorded. */
function maxInAnyWindow(grants: [number, number][], windowMs: number): number {
  return Math.max(
    0,
    ...grants.map(([start]) =>
      grants.filter(([at]) => at >= start && at < start + windowMs).reduce((sum, [, calls]) => sum + calls, 0),
    ),
  );
}

test('grants up to the limit, then says when the oldest grant leaves the window', () => {
  const budget = newBudget('api', 10, 1_000);
  expect(grantCalls(budget, ask(4), 0)).toEqual({ granted: 4, id: 4, at: 0 });
  expect(grantCalls(budget, ask(4), 100)).toEqual({ granted: 4, id: 8, at: 100 });
  expect(grantCalls(budget, ask(4), 200)).toEqual({ granted: 2, id: 10, at: 200, retryAt: 1_000 + GRANT_LIFETIME_MS });
  expect(grantCalls(budget, ask(1), 500)).toEqual({ granted: 0, retryAt: 1_000 + GRANT_LIFETIME_MS });
  expect(grantCalls(budget, ask(3), 1_000 + GRANT_LIFETIME_MS)).toEqual({
    granted: 3,
    id: 13,
    at: 1_000 + GRANT_LIFETIME_MS,
  });
});

test('random asks at random times never put more than the limit in any window (a grant may be used late)', () => {
  const budget = newBudget('api', 10, 1_000);
  const granted: [number, number][] = [];
  let now = 0;
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 2_000; i++) {
    now += Math.floor(random() * 120);
    const grant = grantCalls(budget, ask(1 + Math.floor(random() * 4)), now);
    // a call may be made up to GRANT_LIFETIME_MS after its grant: take the worst case
    if (grant.granted) granted.push([now + Math.floor(random() * GRANT_LIFETIME_MS), grant.granted]);
  }
  granted.sort((a, b) => a[0] - b[0]);
  expect(maxInAnyWindow(granted, 1_000)).toBeLessThanOrEqual(10);
  expect(budget.grantedTotal).toBeGreaterThan(100); // it did grant: the window was not simply shut
});

test('a 429 pauses every grant until Retry-After, and one that came within the limit lowers it once', () => {
  const budget = newBudget('api', 10, 1_000);
  grantCalls(budget, ask(8), 0);
  reportRateLimited(budget, 2_000, 100);
  expect(budget.effectiveLimit).toBe(6); // 8 calls were granted when the provider refused: its real limit is lower
  reportRateLimited(budget, 2_000, 150); // the same burst: no second lowering
  expect(budget.effectiveLimit).toBe(6);
  expect(grantCalls(budget, ask(1), 1_000)).toEqual({ granted: 0, retryAt: 2_150 });
  expect(grantCalls(budget, ask(10), 2_150)).toEqual({ granted: 6, id: 14, at: 2_150, retryAt: expect.any(Number) });
  expect(callsInWindow(budget, 2_150)).toBe(6);
});

test('a changed declaration replaces the limit', () => {
  const budget = newBudget('api', 10, 1_000);
  expect(grantCalls(budget, { calls: 30, limit: 20, windowMs: 1_000 }, 0).granted).toBe(20);
  expect(budget.effectiveLimit).toBe(20);
});

test('a settled grant leaves its window as soon as its calls may have: at once when none was used', () => {
  const budget = newBudget('api', 10, 1_000);
  const first = grantCalls(budget, ask(6), 0);
  const second = grantCalls(budget, ask(4), 100);
  expect(grantCalls(budget, ask(1), 200)).toEqual({ granted: 0, retryAt: 1_000 + GRANT_LIFETIME_MS });
  // the first grant's 6 calls were made within 80 ms of it; the second reached its agent too late, unused
  const settled = [
    { id: first.id!, at: 0, used: 6, withinMs: 80 },
    { id: second.id!, at: 100, used: 0, withinMs: 900 },
  ];
  expect(grantCalls(budget, ask(5, settled), 300)).toEqual({ granted: 4, id: 14, at: 300, retryAt: 1_080 });
  expect(grantCalls(budget, ask(6), 1_080)).toEqual({ granted: 6, id: 20, at: 1_080 });
});

test('settling only narrows: a longer bound, an unknown grant or one recorded before settling change nothing', () => {
  const budget = newBudget('api', 10, 1_000);
  budget.grants.push([0, 5]); // carried over from a budget that recorded no lifetime and no id
  const grant = grantCalls(budget, ask(5), 0);
  const settled = [
    { id: grant.id!, at: 0, used: 5, withinMs: 5_000 },
    { id: 999, at: 0, used: 0, withinMs: 0 },
    { id: grant.id!, at: 1, used: 0, withinMs: 0 }, // the same id from a budget started again
  ];
  expect(grantCalls(budget, ask(1, settled), 10)).toEqual({ granted: 0, retryAt: 1_000 + GRANT_LIFETIME_MS });
  expect(grantCalls(budget, ask(10), 1_000 + GRANT_LIFETIME_MS).granted).toBe(10);
});

test('random asks, settled at random: calls made within their bound never put more than the limit in a window', () => {
  const budget = newBudget('api', 10, 1_000);
  const calls: [number, number][] = [];
  let pending: SettledGrant[] = [];
  let now = 0;
  let seed = 11;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 2_000; i++) {
    now += Math.floor(random() * 60);
    const grant = grantCalls(budget, ask(1 + Math.floor(random() * 4), pending), now);
    pending = [];
    if (!grant.granted) continue;
    const withinMs = Math.floor(random() * GRANT_LIFETIME_MS);
    const used = random() < 0.2 ? Math.floor(random() * grant.granted) : grant.granted;
    // each used call is made at the latest its agent allows
    if (used) calls.push([now + withinMs, used]);
    const crashedBeforeSettling = random() < 0.1;
    if (!crashedBeforeSettling) pending = [{ id: grant.id!, at: now, used, withinMs }];
  }
  calls.sort((a, b) => a[0] - b[0]);
  expect(maxInAnyWindow(calls, 1_000)).toBeLessThanOrEqual(10);
  expect(budget.grantedTotal).toBeGreaterThan(200);
});

describe('AIMD (RULES_AIMD)', () => {
  const WINDOW = 5_000;
  const aimdBudget = () => newBudget('api', 100, WINDOW, RULES_AIMD);
  const ask100 = (calls: number) => ({ calls, limit: 100, windowMs: WINDOW });
  /** Asks for more than the limit in each of `windows` windows from `start` (no 429): returns the limit after each. */
  const useTheLimit = (budget: BudgetState, start: number, windows: number) =>
    Array.from({ length: windows }, (_, index) => {
      const at = start + index * (WINDOW + GRANT_LIFETIME_MS);
      grantCalls(budget, ask100(100), at);
      return effectiveLimitAt(budget, at + WINDOW + GRANT_LIFETIME_MS);
    });

  test('a 429 with 2 calls in the window lowers the limit by half at most; windows used without 429 raise it', () => {
    const budget = aimdBudget();
    grantCalls(budget, ask100(2), 0);
    reportRateLimited(budget, undefined, 100);
    // without Retry-After: a share of the window, not 30 s
    expect(budget.pausedUntil).toBe(100 + WINDOW / 4);
    expect(effectiveLimitAt(budget, 200)).toBe(50);
    // idle windows say nothing of the provider's limit: the lowering stays
    expect(effectiveLimitAt(budget, 100 * WINDOW)).toBe(50);
    // few calls in the window said nothing of where the limit is: 5 more per window at the limit, all the way back
    expect(useTheLimit(budget, 100 * WINDOW, 10)).toEqual([55, 60, 65, 70, 75, 80, 85, 90, 95, 100]);
    grantCalls(budget, ask100(1), 200 * WINDOW);
    expect([budget.effectiveLimit, budget.recovery]).toEqual([100, undefined]);
  });

  test('a real limit below the declared one: lowered near it, back fast to 90% of it, then just below it, held', () => {
    const budget = aimdBudget();
    grantCalls(budget, ask100(70), 0);
    reportRateLimited(budget, 1_000, 100);
    expect(effectiveLimitAt(budget, 500)).toBe(52); // 75% of the 70 calls in the window
    // +5 per window at the limit up to 90% of 70 (63), then +1 up to 69, held there 20 windows, then +1
    const climbed = useTheLimit(budget, 10_000, 30);
    expect(climbed.slice(0, 7)).toEqual([57, 62, 67, 68, 69, 69, 69]);
    expect(climbed.slice(23, 27)).toEqual([69, 69, 70, 71]);
    expect(budget.history!.map(({ event, before, limit }) => [event, before, limit])).toEqual([['lowered', 100, 52]]);
  });

  test('a 429 during the climb: it stops where it was, lowered from there, and windows count again', () => {
    const budget = aimdBudget();
    grantCalls(budget, ask100(80), 0);
    reportRateLimited(budget, 1_000, 10);
    expect(useTheLimit(budget, 10_000, 2)).toEqual([65, 70]);
    const at = 10_000 + 2 * (WINDOW + GRANT_LIFETIME_MS);
    grantCalls(budget, ask100(70), at);
    reportRateLimited(budget, 1_000, at + 1);
    expect(effectiveLimitAt(budget, at + 2)).toBe(52);
    expect(useTheLimit(budget, at + 2_000, 1)).toEqual([57]);
  });

  test('never below 10% of the declared limit', () => {
    const budget = aimdBudget();
    // 429s with no call of ours in the window (the provider's limit is shared): halved each time, down to 10
    const limits = [0, 1, 2, 3, 4, 5].map((i) => {
      reportRateLimited(budget, 1_000, i * 5_600);
      return budget.effectiveLimit;
    });
    expect(limits).toEqual([50, 25, 12, 10, 10, 10]);
  });

  test('reset: back to the declared limit at once, and no pause', () => {
    const budget = aimdBudget();
    grantCalls(budget, ask100(80), 0);
    reportRateLimited(budget, 60_000, 10);
    resetLimit(budget, 20);
    expect(budgetView(budget, 30)).toMatchObject({ effectiveLimit: 100, pausedUntil: null });
    expect(budget.history!.at(-1)).toMatchObject({ event: 'reset', before: 60, limit: 100 });
  });

  test('the budget owns its declaration: asks declaring otherwise change nothing; one at submit is an event', () => {
    const budget = aimdBudget();
    declare(budget, { limit: 100, windowMs: WINDOW, hosts: ['api.example'] }, 0, true);
    grantCalls(budget, ask100(80), 0);
    reportRateLimited(budget, 1_000, 10);
    for (let i = 0; i < 10; i++)
      grantCalls(budget, { calls: 1, limit: 20 + (i % 2) * 80, windowMs: WINDOW }, 2_000 + i);
    expect([budget.limit, budget.effectiveLimit]).toEqual([100, 60]);
    expect(declare(budget, { limit: 200, windowMs: WINDOW }, 3_000, true)).toBe(true);
    // what the 429 taught stays: raising the declared limit does not undo the lowering
    expect(effectiveLimitAt(budget, 3_001)).toBe(60);
    expect(budget.history!.at(-1)).toMatchObject({
      event: 'declared',
      at: 3_000,
      declaration: { limit: 200, windowMs: WINDOW, beforeLimit: 100, beforeWindowMs: WINDOW },
    });
    expect(declare(budget, { limit: 200, windowMs: WINDOW }, 4_000, true)).toBe(false);
  });

  test('a view read later than the workflow last ran shows the window as of then', () => {
    const budget = aimdBudget();
    grantCalls(budget, ask100(30), 0);
    const answered = { ...budgetView(budget, 10), state: budget };
    expect(viewNow(answered, 10).callsInWindow).toBe(30);
    expect(viewNow(answered, WINDOW + GRANT_LIFETIME_MS + 1).callsInWindow).toBe(0);
  });
});
