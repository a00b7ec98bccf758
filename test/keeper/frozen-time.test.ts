/** A frozen run's timeout clock: the arithmetic alone (keeper-freeze.system.test.ts runs it in a real keeper). */
import { FrozenTime, isTimedOut } from '../../src/keeper/frozen-time.js';

test('a run never frozen counts all its time', () => {
  const clock = new FrozenTime();
  expect(clock.runningMs(1_000, 5_000)).toBe(4_000);
  expect(clock.record()).toEqual({ since: null, endedSpansMs: 0 });
  expect(isTimedOut(clock, 1_000, 5_000, 4_000)).toBe(false);
  expect(isTimedOut(clock, 1_000, 5_001, 4_000)).toBe(true);
  expect(isTimedOut(clock, 1_000, 10 ** 12, null)).toBe(false);
});

test('frozen time does not count, the span going on included, and spans add up', () => {
  const clock = new FrozenTime();
  clock.freeze(2_000);
  expect(clock.frozen).toBe(true);
  expect(clock.runningMs(0, 8_000)).toBe(2_000);
  expect(clock.record()).toEqual({ since: 2_000, endedSpansMs: 0 });
  clock.thaw(8_000);
  expect(clock.runningMs(0, 9_000)).toBe(3_000);
  clock.freeze(10_000);
  clock.thaw(11_500);
  expect(clock.record()).toEqual({ since: null, endedSpansMs: 7_500 });
  expect(clock.runningMs(0, 12_000)).toBe(4_500);
  // --timeout 4s: frozen for 7.5 s of 12 s, it has run 4.5 s.
  expect(isTimedOut(clock, 0, 11_999, 4_500)).toBe(false);
  expect(isTimedOut(clock, 0, 12_001, 4_500)).toBe(true);
});

test("a second freeze keeps the first one's start; a thaw of a run not frozen changes nothing", () => {
  const clock = new FrozenTime();
  clock.thaw(1_000);
  expect(clock.record()).toEqual({ since: null, endedSpansMs: 0 });
  clock.freeze(1_000);
  clock.freeze(3_000);
  expect(clock.frozenMs(4_000)).toBe(3_000);
  // A clock stepped back never makes frozen time negative.
  clock.thaw(500);
  expect(clock.frozenMs(600)).toBe(0);
});
