/**
 * The watchdog of a run that keeps being lost: adoptions (or starts) of one run that fail again and
 * again, none of them holding it, loop for good otherwise. Once nobody has held the run for longer than
 * its adoption window, the experiment stops trying, keeps away one more window (no attempt renews the
 * keeper's lease, so the keeper surely stops the run), and starts a fresh run, which costs no retry.
 * Workflow code: deterministic, times are the workflow's clock.
 */

export class RunWatchdog {
  private run: number | undefined;
  private unheldSince = 0;

  /**
   * An attempt of `run` failed at `now`; `held`: it held the run until then (heartbeated, or lasted
   * longer than a window). Returns since when nobody has held the run.
   */
  failed(run: number, now: number, held: boolean): number {
    if (run !== this.run || held) {
      this.run = run;
      this.unheldSince = now;
    }
    return this.unheldSince;
  }

  /** True once nobody has held the run for longer than `windowMs`. */
  overdue(now: number, windowMs: number): boolean {
    return this.run !== undefined && now - this.unheldSince > windowMs;
  }

  clear(): void {
    this.run = undefined;
  }
}
