/** Estimates of when a run and a batch will finish, from progress so far, the durations seen and the quotas. */
import type { BudgetView } from '../../budget/window.js';
import { isBatchDone, isFinal } from '../../model/batch-state.js';
import type { BatchState, RunHeartbeat } from '../../model/types.js';

/** Time left for a run that is `percent` done after `elapsedMs`; unknown before any progress. */
export function runEtaMs(elapsedMs: number, percent: number | undefined): number | undefined {
  if (percent === undefined || percent <= 0) return undefined;
  if (percent >= 100) return 0;
  return Math.round((elapsedMs * (100 - percent)) / percent);
}

/**
 * Time left for a run, assuming no progress since the last report: never "done" too early when a
 * script reports rarely (or once, at its start); reports are at most a few seconds old. Its pace counts only
 * the time it was not frozen: `frozenSince` is when its current freeze began (the record's `pausedSince`).
 */
export function runLeftMs(run: RunHeartbeat | undefined, now: number, frozenSince?: number): number | undefined {
  if (!run?.progress) return undefined;
  // Frozen after its last report (that report's frozenMs counts the time before it).
  const frozenNowMs = frozenSince === undefined ? 0 : Math.max(0, now - Math.max(frozenSince, run.progressAt ?? 0));
  const first = run.firstProgress;
  const frozenSinceFirstMs =
    first?.frozenMs !== undefined && run.frozenMs !== undefined ? run.frozenMs - first.frozenMs : 0;
  const runningSinceFirstMs = first ? now - first.at - frozenSinceFirstMs - frozenNowMs : 0;
  // From the run's own pace since its first report: neither its start-up nor a resumed checkpoint's head start.
  if (first && run.progress.percent > first.percent && runningSinceFirstMs > 0) {
    if (run.progress.percent >= 100) return 0;
    return Math.round((runningSinceFirstMs * (100 - run.progress.percent)) / (run.progress.percent - first.percent));
  }
  return runEtaMs(Math.max(0, now - run.startedAt - (run.frozenMs ?? 0) - frozenNowMs), run.progress.percent);
}

function mean(values: number[]): number | undefined {
  return values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : undefined;
}

/**
 * Time left for the whole batch: the later of the compute ETA and the quota ETA (`quotaEtaMs`).
 * Unknown until something finished or reported progress, unless the quotas alone need time.
 */
export function batchEtaMs(
  state: BatchState,
  runs: ReadonlyMap<number, RunHeartbeat>,
  now: number,
  budgets: readonly BudgetView[] = [],
): number | undefined {
  const computeMs = computeEtaMs(state, runs, now);
  const quotaMs = quotaEtaMs(state, runs, now, budgets);
  if (computeMs === undefined) return quotaMs ? quotaMs : undefined; // 0: the calls are made, the work is unknown
  return Math.max(computeMs, quotaMs ?? 0);
}

/**
 * Time the quotas need for the calls still expected: per quota, the `Calls:` estimates of the
 * experiments not yet ended less the calls they made (ended runs from their records, running ones
 * from their heartbeats), at the effective limit per window, after a pause. The longest over the
 * quotas; undefined when no experiment of the batch has an estimate.
 */
export function quotaEtaMs(
  state: BatchState,
  runs: ReadonlyMap<number, RunHeartbeat>,
  now: number,
  budgets: readonly BudgetView[] = [],
): number | undefined {
  let longest: number | undefined;
  for (const name of new Set(state.experiments.flatMap((experiment) => experiment.quotas ?? []))) {
    const budget = budgets.find((view) => view.name === name);
    // the budget's declaration; a batch submitted before the budgets owned their quotas also carries its own
    const declared = budget ?? state.settings.quotas?.[name];
    if (!declared) continue;
    let estimated = false;
    let remaining = 0;
    state.experiments.forEach((experiment, index) => {
      if (experiment.calls === undefined || !experiment.quotas?.includes(name)) return;
      estimated = true;
      const record = state.records[index];
      if (isFinal(record.status)) return;
      const made = (record.calls?.[name] ?? 0) + (runs.get(index)?.calls?.[name] ?? 0);
      remaining += Math.max(0, experiment.calls - made);
    });
    if (!estimated) continue;
    const pauseMs = budget?.pausedUntil ? Math.max(0, budget.pausedUntil - now) : 0;
    const limit = budget?.effectiveLimit ?? declared.limit;
    const quotaMs = remaining ? pauseMs + (remaining * declared.windowMs) / Math.max(1, limit) : 0;
    longest = Math.max(longest ?? 0, Math.round(quotaMs));
  }
  return longest;
}

/**
 * Time the work still to do needs: queued experiments at the mean duration of finished ones,
 * running ones by their progress, spread over the batch's slots, and never less than the longest
 * running one needs. Unknown until something finished or reported progress, and when all that is left is runs
 * past the typical duration that report no progress.
 */
function computeEtaMs(state: BatchState, runs: ReadonlyMap<number, RunHeartbeat>, now: number): number | undefined {
  const finishedDurations: number[] = [];
  const projectedDurations: number[] = [];
  state.records.forEach((record, index) => {
    if (
      (record.status === 'completed' || record.status === 'failed') &&
      record.startedAt !== undefined &&
      record.closedAt !== undefined
    ) {
      finishedDurations.push(record.closedAt - record.startedAt);
    }
    const run = runs.get(index);
    const left = runLeftMs(run, now, record.pausedSince);
    if (run && left !== undefined) projectedDurations.push(now - run.startedAt + left);
  });
  const typical = mean(finishedDurations) ?? mean(projectedDurations);
  if (typical === undefined) return isBatchDone(state) ? 0 : undefined;

  let work = 0;
  let longest = 0;
  let endUnknown = false;
  state.records.forEach((record, index) => {
    if (record.status === 'queued') {
      work += typical;
      return;
    }
    if (isFinal(record.status)) return;
    const run = runs.get(index);
    const elapsed = now - (run?.startedAt ?? record.startedAt ?? now);
    const reported = runLeftMs(run, now, record.pausedSince);
    endUnknown ||= reported === undefined && elapsed >= typical;
    const left = reported ?? Math.max(0, typical - elapsed);
    work += left;
    longest = Math.max(longest, left);
  });
  const eta = Math.round(Math.max(longest, work / state.settings.maxConcurrent));
  // Only runs past the typical duration, with no progress, are left: they end at an unknown time, not now
  return eta === 0 && endUnknown ? undefined : eta;
}
