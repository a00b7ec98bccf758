/**
 * The watchdog of a run that keeps being lost: adoptions (or starts) of one run that fail again and
 * again, none of them holding it, loop for good otherwise. Once nobody has held the run for longer than
 * its adoption window, the experiment stops trying, keeps away one more window (no attempt renews the
 * keeper's lease, so the keeper surely stops the run), and starts a fresh run, which costs no retry.
 * Workflow code: deterministic, times are the workflow's clock.
 */

/** The run watched (none once cleared) and since when nobody has held it. */
export interface RunWatchdog {
  run?: number;
  unheldSince: number;
}

export const NEW_WATCHDOG: RunWatchdog = { unheldSince: 0 };

/**
 * An attempt of `run` failed at `now`; `held`: it held the run until then (heartbeated, or lasted
 * longer than a window). Its `unheldSince` in the result: since when nobody has held the run.
 */
export function watchFailure(watchdog: RunWatchdog, run: number, now: number, held: boolean): RunWatchdog {
  return run !== watchdog.run || held ? { run, unheldSince: now } : watchdog;
}

/** True once nobody has held the run for longer than `windowMs`. */
export function isOverdue(watchdog: RunWatchdog, now: number, windowMs: number): boolean {
  return watchdog.run !== undefined && now - watchdog.unheldSince > windowMs;
}

export function clearWatchdog(watchdog: RunWatchdog): RunWatchdog {
  return { ...watchdog, run: undefined };
}
