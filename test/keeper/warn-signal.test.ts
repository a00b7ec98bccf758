/** When the keeper warns a run before its --timeout (the arithmetic; checkpoint.system.test.ts runs a real one). */
import { FrozenTime } from '../../src/keeper/frozen-time.js';
import { isWarningDue, warningOf, type RunWarning } from '../../src/keeper/warn-signal.js';

const warning: RunWarning = { signal: 'SIGUSR1', beforeMs: 15_000 };

test('due once the run has run its timeout less the warning, in time not frozen', () => {
  const clock = new FrozenTime();
  expect(isWarningDue(clock, 0, 4_999, 20_000, warning)).toBe(false);
  expect(isWarningDue(clock, 0, 5_000, 20_000, warning)).toBe(true);
  clock.freeze(1_000);
  expect(isWarningDue(clock, 0, 9_000, 20_000, warning)).toBe(false); // frozen: not while it cannot act on it
  clock.thaw(9_000);
  expect(isWarningDue(clock, 0, 12_999, 20_000, warning)).toBe(false);
  expect(isWarningDue(clock, 0, 13_000, 20_000, warning)).toBe(true);
});

test('never without a timeout or a warning', () => {
  expect(isWarningDue(new FrozenTime(), 0, 10 ** 12, null, warning)).toBe(false);
  expect(isWarningDue(new FrozenTime(), 0, 10 ** 12, 20_000, undefined)).toBe(false);
});

test("a run's spec carries the warning only with both a timeout and --signal-before", () => {
  expect(warningOf({ timeoutMs: 20_000, signalBeforeMs: 15_000, warnSignal: 'SIGUSR2' })).toEqual({
    warning: { signal: 'SIGUSR2', beforeMs: 15_000 },
  });
  expect(warningOf({ timeoutMs: 20_000, signalBeforeMs: 15_000 })).toEqual({
    warning: { signal: 'SIGUSR1', beforeMs: 15_000 },
  });
  expect(warningOf({ timeoutMs: null, signalBeforeMs: 15_000 })).toEqual({});
  expect(warningOf({ timeoutMs: 20_000 })).toEqual({});
});
