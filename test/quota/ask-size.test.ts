/** How many calls the agent asks for at a time: enough in flight for a per-second limit, little lost to a crash. */
import { MAX_ASKS_IN_FLIGHT, maxAsk } from '../../src/quota/agent.js';

const inFlight = (limit: number, windowMs: number) => MAX_ASKS_IN_FLIGHT * maxAsk({ limit, windowMs });

test('a per-second limit keeps 100 ms of its calls in flight, not one call per ask', () => {
  expect(inFlight(200, 1_000)).toBe(20);
  expect(inFlight(1_000, 1_000)).toBe(100);
});

test('a long window keeps 1% of its limit in flight; a small limit one call per ask', () => {
  expect(inFlight(2_000, 3_600_000)).toBe(20);
  expect(inFlight(100, 5_000)).toBe(MAX_ASKS_IN_FLIGHT);
  expect(inFlight(50, 3_000)).toBe(MAX_ASKS_IN_FLIGHT);
});
