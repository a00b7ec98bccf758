/** Pure transitions and views of a BatchState; used by the batch workflow, `status` and `submit`. */
import {
  FINAL_STATUSES,
  type BatchSettings,
  type BatchState,
  type BatchSummary,
  type ExperimentReport,
  type ExperimentSpec,
  type ExperimentStatus,
  type ExperimentView,
} from './types.js';
import { sweepOf } from './sweep-groups.js';
import { placeFreed } from './freed-places.js';

export function newBatchState(
  batchId: string,
  experiments: ExperimentSpec[],
  settings: BatchSettings,
  createdAt: number,
): BatchState {
  return {
    batchId,
    createdAt,
    settings,
    experiments,
    records: experiments.map(() => ({ status: 'queued', attempts: 0, exitCode: null })),
    nextIndex: 0,
    cancelRequested: false,
    generation: 0,
  };
}

/** An experiment's id: the part of its name before the first `_` (`exp125` for `exp125_adaptive_stop_loss`). */
export function experimentIdOf(name: string): string {
  return name.split(/[_[]/)[0]; // a sweep member's id is its script's
}

/** Indexes of the experiments a user means by `wanted`: an experiment's name, or an id (several may share one). */
export function experimentWorkflowId(batchId: string, experimentName: string): string {
  return `${batchId}/${experimentName}`;
}

/** How the batch records an experiment whose workflow failed as a whole (the failure's message follows). */
export const EXPERIMENT_WORKFLOW_FAILED = 'experiment workflow failed: ';
/** How it records one whose workflow was terminated (by hand): the server gives a parent no reason. */
export const EXPERIMENT_TERMINATED = 'its experiment workflow was terminated';

export function isFinal(status: ExperimentStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** Reports may arrive out of order or twice; a final record is never replaced. */
export function applyReport(state: BatchState, report: ExperimentReport): void {
  const current = state.records[report.index];
  if (!current || isFinal(current.status)) return;
  state.records[report.index] = { ...report.record, startedAt: current.startedAt ?? report.record.startedAt };
}

export type StatusCounts = Record<ExperimentStatus, number>;

export function countByStatus(records: readonly { status: ExperimentStatus }[]): StatusCounts {
  const counts: StatusCounts = {
    queued: 0,
    held: 0,
    running: 0,
    retrying: 0,
    'waiting-quota': 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    skipped: 0,
  };
  for (const record of records) counts[record.status]++;
  return counts;
}

/** Started experiments (not deferred) whose end is still to arrive. */
function unendedStarts(state: BatchState): number[] {
  const deferred = new Set(state.deferred);
  const unended: number[] = [];
  for (let index = 0; index < state.nextIndex; index++) {
    if (!deferred.has(index) && !isFinal(state.records[index].status)) unended.push(index);
  }
  return unended;
}

/**
 * Experiments holding one of the batch's slots: started (their process may wait for a worker slot), not yet final,
 * and not given back by a clean exit.
 */
export function inFlight(state: BatchState): number {
  return unendedStarts(state).filter((index) => !placeFreed(state, index)).length;
}

/** Started experiments whose end is still to arrive, whether or not their run already gave its place back. */
export function endsAwaited(state: BatchState): number {
  return unendedStarts(state).length;
}

export function isBatchDone(state: BatchState): boolean {
  return state.records.every((record) => isFinal(record.status));
}

function isoOrNull(epochMs: number | undefined): string | null {
  return epochMs === undefined ? null : new Date(epochMs).toISOString();
}

/** A finished batch's own outcome: cancelled when asked to be, failed when an experiment failed, else completed. */
export function batchOutcome(state: Pick<BatchState, 'cancelRequested' | 'records'>): BatchOutcome {
  if (state.cancelRequested) return 'cancelled';
  return state.records.some((record) => record.status === 'failed' || record.status === 'skipped')
    ? 'failed'
    : 'completed';
}

/** The same from a batch's experiments alone (a summary file, which does not say whether the batch was cancelled). */
export function summaryOutcome(experiments: readonly { status: ExperimentStatus }[]): BatchOutcome {
  if (experiments.some((experiment) => experiment.status === 'cancelled')) return 'cancelled';
  return experiments.some((experiment) => experiment.status === 'failed' || experiment.status === 'skipped')
    ? 'failed'
    : 'completed';
}

export type BatchOutcome = 'completed' | 'failed' | 'cancelled';

/** Every experiment with its current status; the shape of `status --json` and of the final summary. */
export function experimentViews(state: BatchState): ExperimentView[] {
  return state.experiments.map((experiment, index) => {
    const record = state.records[index];
    return {
      id: experiment.id,
      name: experiment.name,
      priority: experiment.priority,
      status: record.status,
      attempts: record.attempts,
      exitCode: record.exitCode,
      reason: record.reason ?? null,
      startedAt: isoOrNull(record.startedAt),
      closedAt: isoOrNull(record.closedAt),
      ...(record.error !== undefined && record.status !== 'completed' ? { error: record.error } : {}),
      ...(record.calls ? { calls: record.calls } : {}),
      ...(record.requeues ? { requeues: record.requeues } : {}),
      ...(record.lostRuns ? { lostRuns: record.lostRuns } : {}),
      ...(experiment.params ? { sweep: sweepOf(experiment), params: experiment.params } : {}),
    };
  });
}

/** The batch's result: an experiment that never reached a final status counts as cancelled. */
export function summarize(state: BatchState): BatchSummary {
  return {
    batchId: state.batchId,
    experiments: experimentViews(state).map((view) => ({
      ...view,
      status:
        view.status === 'completed' || view.status === 'failed' || view.status === 'skipped'
          ? view.status
          : 'cancelled',
    })),
    ...(state.settings.code ? { code: state.settings.code } : {}),
  };
}
