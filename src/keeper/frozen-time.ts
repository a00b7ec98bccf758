/**
 * How long a run has been frozen (`pause <batchId> <exp>`): the spans that ended and the one going on. Its
 * `--timeout` counts only the time it was not frozen. Pure: the keeper passes in its clock.
 */

/** The keeper's record of a run's freeze (`frozen.json`): since when it is frozen, and the frozen time before. */
export interface FrozenRecord {
  /** When the current freeze began; null while the run is not frozen. */
  since: number | null;
  /** Milliseconds frozen in spans that have ended. */
  endedSpansMs: number;
}

export class FrozenTime {
  private since: number | undefined;
  private endedSpansMs = 0;

  get frozen(): boolean {
    return this.since !== undefined;
  }

  freeze(now: number): void {
    this.since ??= now;
  }

  thaw(now: number): void {
    if (this.since === undefined) return;
    this.endedSpansMs += Math.max(0, now - this.since);
    this.since = undefined;
  }

  /** Frozen time up to `now`, the current span included. */
  frozenMs(now: number): number {
    return this.endedSpansMs + (this.since === undefined ? 0 : Math.max(0, now - this.since));
  }

  /** Time the run has run unfrozen since `startedAt`. */
  runningMs(startedAt: number, now: number): number {
    return Math.max(0, now - startedAt - this.frozenMs(now));
  }

  record(): FrozenRecord {
    return { since: this.since ?? null, endedSpansMs: this.endedSpansMs };
  }
}

/** Past its timeout: run longer than `timeoutMs` in time not frozen (null: no limit). */
export function isTimedOut(clock: FrozenTime, startedAt: number, now: number, timeoutMs: number | null): boolean {
  return timeoutMs !== null && clock.runningMs(startedAt, now) > timeoutMs;
}
