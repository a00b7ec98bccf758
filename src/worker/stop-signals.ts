/**
 * Ctrl-C reaches both `staged worker` and the worker it runs (one process group), and the command passes the signal
 * on again (cli/foreground.ts). The SDK stops listening once the first signal began its shutdown, so the second one
 * killed the worker on the spot: its runs were not let go of, and it said nothing. Once the worker exists, later
 * SIGINTs and SIGTERMs leave its shutdown to finish (bounded by the SDK's force time); before, one ends the process
 * as it would have ended without a listener, since nothing is held yet.
 */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export function waitOutRepeatedStopSignals(forceAfterMs: number): { workerCreated(): void } {
  let created = false;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!created) {
      for (const name of STOP_SIGNALS) process.off(name, onSignal);
      process.kill(process.pid, signal); // the SDK's listener is gone by now: the default action ends the process
      return;
    }
    signals += 1;
    // The first is the SDK's to act on; the second is usually the same Ctrl-C, passed on by `staged worker`.
    if (signals === 1) console.log(`staged worker: ${signal}: stopping (at most ${forceAfterMs / 1000} s)`);
    if (signals === 3)
      console.log(
        `staged worker: ${signal} again: still letting go of its runs (at most ${forceAfterMs / 1000} s); ` +
          'SIGKILL stops it at once, leaving them for adoption after their heartbeat timeout',
      );
  };
  for (const name of STOP_SIGNALS) process.on(name, onSignal);
  return {
    workerCreated: () => {
      created = true;
    },
  };
}
