/** A run's spec carries its warning (keeper/warn_signal_test.go tests when the keeper sends it). */
import { warningOf } from '../../src/keeper/warn-signal.js';

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
