/** The budget's sliding window: at most the limit in any window, whatever the order of asks. */
import {
  GRANT_LIFETIME_MS,
  callsInWindow,
  grantCalls,
  newBudget,
  reportRateLimited,
  type SettledGrant,
} from '../../src/quota/window.js';

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
