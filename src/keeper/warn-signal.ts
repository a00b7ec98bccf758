/**
 * `--signal-before`: a run is warned (SIGUSR1 by default) once, that long before its `--timeout` stops it, so it
 * can save a checkpoint and exit REQUEUE_EXIT_CODE. Counted in time not frozen, as the timeout is.
 */
import type { BatchSettings } from '../model/types.js';
import { DEFAULT_WARN_SIGNAL } from '../parse/signal.js';
import type { FrozenTime } from './frozen-time.js';

/** The warning as a run's spec carries it (RunSpec.warning): an adopted run keeps it, its keeper reads it. */
export interface RunWarning {
  signal: string;
  /** Milliseconds of the timeout left when the signal is sent. */
  beforeMs: number;
}

/** The spec's `warning` field for a batch's runs: present only with both a timeout and `--signal-before`. */
export function warningOf(settings: Pick<BatchSettings, 'timeoutMs' | 'signalBeforeMs' | 'warnSignal'>) {
  const { timeoutMs, signalBeforeMs, warnSignal } = settings;
  if (timeoutMs === null || signalBeforeMs === undefined) return {};
  const warning: RunWarning = { signal: warnSignal ?? DEFAULT_WARN_SIGNAL, beforeMs: signalBeforeMs };
  return { warning };
}

/** True once the run has run unfrozen for its timeout less `beforeMs`. */
export function isWarningDue(
  clock: FrozenTime,
  startedAt: number,
  now: number,
  timeoutMs: number | null,
  warning: RunWarning | undefined,
): boolean {
  if (timeoutMs === null || !warning || clock.frozen) return false;
  return clock.runningMs(startedAt, now) >= Math.max(0, timeoutMs - warning.beforeMs);
}

/** Sends the warning to the run's main process; false when it is gone or the signal is unknown here. */
export function sendWarning(pid: number, warning: RunWarning): boolean {
  try {
    process.kill(pid, warning.signal);
    return true;
  } catch {
    return false;
  }
}
