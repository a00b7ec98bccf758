/**
 * Pausing running experiments (`pause`/`resume <batchId> <exp>…`): their runs are frozen where they are, their
 * `--timeout` clock stops, and `resume` thaws them. The check runs as the batch Update's validator (a refused change
 * never enters the history); the experiment workflow carries the change out on the run's machine. Workflow-safe.
 */
import { isFinal } from './batch-state.js';
import type { BatchState, ExperimentRecord } from './types.js';

/** `pause <batchId> <exp>…` (`paused: true`) or `resume <batchId> <exp>…` (`paused: false`). */
export interface ExperimentsPause {
  names: string[];
  paused: boolean;
}

/** What the activity on the run's machine found: since when the run is frozen (null: it runs), or that it ended. */
export interface RunPauseAnswer {
  pausedSince: number | null;
  ended: boolean;
}

export function checkExperimentsPause(state: BatchState, { names, paused }: ExperimentsPause): string | undefined {
  if (!names.length) return 'name at least one experiment';
  for (const name of names) {
    const index = state.experiments.findIndex((experiment) => experiment.name === name);
    if (index < 0) return `batch ${state.batchId} has no experiment "${name}"`;
    const record = state.records[index];
    if (isFinal(record.status)) return `${name} has already ended (${record.status})`;
    if (index >= state.nextIndex || record.status !== 'running') {
      const what = paused ? 'pause' : 'resume';
      return `${name} is not running (${record.status}): only a running experiment's run can ${what}`;
    }
    if (paused && record.pausedSince !== undefined) return `${name} is already paused`;
    if (!paused && record.pausedSince === undefined) return `${name} is not paused`;
  }
  return undefined;
}

/** The change has reached the experiment: its run is frozen or thawed as asked, or it no longer runs. */
export function pauseSettled(record: ExperimentRecord, paused: boolean): boolean {
  return record.status !== 'running' || (record.pausedSince !== undefined) === paused;
}

/** A record without its pause: its run ended, or a new run starts (a run is paused, not an experiment). */
export function withoutPause(record: ExperimentRecord): ExperimentRecord {
  if (!('pausedSince' in record)) return record;
  const rest = { ...record };
  delete rest.pausedSince;
  return rest;
}
