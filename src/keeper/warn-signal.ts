/**
 * `--signal-before`: a run is warned (SIGUSR1 by default) once, that long before its `--timeout` stops it, so it
 * can save a checkpoint and exit REQUEUE_EXIT_CODE. Counted in time not frozen, as the timeout is; the keeper
 * sends it (keeper/warn_signal.go).
 */
import type { BatchSettings } from '../model/types.js';
import { DEFAULT_WARN_SIGNAL } from '../parse/signal.js';

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
