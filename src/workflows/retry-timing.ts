/** How long an experiment waits before it runs again: after a failure (a retry), or after a run that went nowhere. */

/** Delay before retry number `retry` (1-based): the batch's retry delay, doubled for each further retry. */
export function retryDelayMs(firstDelayMs: number, retry: number): number {
  return firstDelayMs * 2 ** Math.max(0, retry - 1);
}

/** A run that could not start, or an adoption failing again, must not spin: 1 s doubling to a minute. */
export function noSpinDelayMs(repeats: number): number {
  return Math.min(60_000, 1_000 * 2 ** Math.min(6, repeats));
}
