/**
 * Progress read from an experiment's output by its keeper (keeper/progress.go), with no change to most scripts:
 *   - the line protocol `PROGRESS 42%` or `PROGRESS 42/100` at the start of a line, optionally
 *     followed by a space and any text (stdout or stderr);
 *   - tqdm-style bars redrawn with carriage returns: ` 42%|████      | 42/100 [00:10<00:14, 4.1it/s]`.
 */

export interface Progress {
  /** 0–100. */
  percent: number;
  /** Units done and in all, when the output said so (`42/100`). */
  done?: number;
  total?: number;
}

/** A run's first progress report and when it came: the rate since then gives its ETA (it may start part-way). */
export interface ProgressMark {
  percent: number;
  at: number;
  /** The run's frozen time before the mark (`pause <batchId> <exp>`); absent from keepers before 2026-12-07. */
  frozenMs?: number;
}
