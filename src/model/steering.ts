/**
 * Changes to a running batch (the `add`, `change`, `pause` and `resume` commands), as pure checks and transitions of
 * its state. The batch workflow runs each check as an Update's validator (a refused change never enters the history)
 * and each transition as its handler. Workflow-safe: no I/O, no clock but the one passed in.
 *
 * Experiments are identified by their index once started (children report by index), so only the queue — the
 * unstarted experiments from `nextIndex` on — is ever reordered: by priority, held ones last, otherwise as it was.
 */
import { isFinal } from './batch-state.js';
import { dependencyProblem, statusesByName, waitingFor } from './dependencies.js';
import { compareNatural } from './natural-order.js';
import { PRIORITIES, type BatchState, type ExperimentSpec, type Priority } from './types.js';

/** `add`: experiments discovered as `submit` discovers them, in start order among themselves. */
export interface AddRequest {
  experiments: ExperimentSpec[];
}

/** `change <exp>…`: a new priority, and/or `hold: true` (kept queued, never started) or `false` (released). */
export interface ExperimentsChange {
  names: string[];
  priority?: Priority;
  hold?: boolean;
}

/** `change --max-concurrent/--max-retries`, `pause`, `resume`. */
export interface BatchChange {
  maxConcurrent?: number;
  maxRetries?: number;
  paused?: boolean;
}

/** An Update's answer: the batch's settings after the change, and each experiment it named. */
export interface SteerAnswer {
  maxConcurrent: number;
  maxRetries: number;
  pausedSince: number | null;
  /** Place in the queue counts from 1 (the next to start); null once started or ended. */
  experiments: {
    name: string;
    priority: Priority;
    status: string;
    place: number | null;
    /** Since when its run is frozen (`pause <batchId> <exp>`); absent while it runs on. */
    pausedSince?: number;
  }[];
}

/** Why a batch takes no change at all now; undefined when it does. */
export function refusedBatch(state: BatchState, closing: boolean): string | undefined {
  if (state.cancelRequested) return `batch ${state.batchId} is being cancelled`;
  if (closing) return `batch ${state.batchId} has ended`;
  return undefined;
}

export function checkAdd(state: BatchState, { experiments }: AddRequest): string | undefined {
  if (!experiments.length) return 'nothing to add';
  const known = new Set(state.experiments.map((experiment) => experiment.name));
  const seen = new Set<string>();
  for (const { name, priority } of experiments) {
    if (known.has(name)) return `batch ${state.batchId} already has an experiment named "${name}"`;
    if (seen.has(name)) return `"${name}" is named twice`;
    if (!PRIORITIES.includes(priority)) return `${name}: unknown priority "${String(priority)}"`;
    seen.add(name);
  }
  return dependencyProblem(experiments, state.experiments);
}

/** Appends the experiments queued, then sorts the queue: they start after what was queued at their priority. */
export function addExperiments(state: BatchState, { experiments }: AddRequest): void {
  for (const experiment of experiments) {
    state.experiments.push(experiment);
    state.records.push({ status: 'queued', attempts: 0, exitCode: null });
  }
  sortQueue(state);
}

export function checkExperimentsChange(state: BatchState, change: ExperimentsChange): string | undefined {
  if (!change.names.length) return 'name at least one experiment';
  if (change.priority === undefined && change.hold === undefined) return 'nothing to change';
  if (change.priority !== undefined && !PRIORITIES.includes(change.priority))
    return `unknown priority "${String(change.priority)}" (one of ${PRIORITIES.join(', ')})`;
  for (const name of change.names) {
    const index = state.experiments.findIndex((experiment) => experiment.name === name);
    if (index < 0) return `batch ${state.batchId} has no experiment "${name}"`;
    const { status } = state.records[index];
    if (isFinal(status)) return `${name} has already ended (${status})`;
    if (state.deferred?.includes(index))
      return `${name} waits for its quota's slot and starts first once it is free: it does not change`;
    if (!isQueued(state, index)) {
      const waits = status === 'queued' ? ', its run waiting for a worker slot' : '';
      return `${name} has already started (${status}${waits}): only experiments not yet started change`;
    }
    if (change.hold === false && status !== 'held') return `${name} is not held`;
    if (change.hold === true && status === 'held') return `${name} is already held`;
  }
  return undefined;
}

export function changeExperiments(state: BatchState, change: ExperimentsChange): void {
  const names = new Set(change.names);
  state.experiments.forEach((experiment, index) => {
    if (!names.has(experiment.name)) return;
    if (change.priority !== undefined) state.experiments[index] = { ...experiment, priority: change.priority };
    const record = state.records[index];
    if (change.hold !== undefined) state.records[index] = { ...record, status: change.hold ? 'held' : 'queued' };
  });
  sortQueue(state);
}

export function checkBatchChange(state: BatchState, change: BatchChange): string | undefined {
  const { maxConcurrent, maxRetries, paused } = change;
  if (maxConcurrent === undefined && maxRetries === undefined && paused === undefined) return 'nothing to change';
  if (maxConcurrent !== undefined && !(Number.isInteger(maxConcurrent) && maxConcurrent >= 1))
    return `--max-concurrent must be a whole number of at least 1, not ${maxConcurrent}`;
  if (maxRetries !== undefined && !(Number.isInteger(maxRetries) && maxRetries >= 0))
    return `--max-retries must be a whole number of at least 0, not ${maxRetries}`;
  if (paused === true && state.pausedSince !== undefined) return `batch ${state.batchId} is already paused`;
  if (paused === false && state.pausedSince === undefined) return `batch ${state.batchId} is not paused`;
  return undefined;
}

export function changeBatch(state: BatchState, change: BatchChange, now: number): void {
  const settings = { ...state.settings };
  if (change.maxConcurrent !== undefined) settings.maxConcurrent = change.maxConcurrent;
  if (change.maxRetries !== undefined) settings.maxRetries = change.maxRetries;
  state.settings = settings;
  if (change.paused === true) state.pausedSince = now;
  if (change.paused === false) delete state.pausedSince;
}

/** Unstarted and not deferred: in the part of the queue that may be reordered. */
function isQueued(state: BatchState, index: number): boolean {
  return index >= state.nextIndex;
}

/**
 * Reorders the queue by priority, then experiment number as `submit` orders it; those waiting for other experiments
 * come after the rest, and held ones last. Records and specs move
 * together; nothing outside the queue refers to a queued experiment by index.
 */
export function sortQueue(state: BatchState): void {
  const start = state.nextIndex;
  const statusOf = statusesByName(state);
  // Ready ones first, then those waiting for other experiments, then held ones; by priority within each.
  const group = (index: number) =>
    state.records[index].status === 'held' ? 2 : waitingFor(state, index, statusOf).length ? 1 : 0;
  const rank = (index: number) =>
    group(index) * PRIORITIES.length + PRIORITIES.indexOf(state.experiments[index].priority);
  const order = state.experiments.slice(start).map((_, offset) => start + offset);
  const { experiments } = state;
  // Within a priority, by experiment number as at submit: a released or added experiment takes its place.
  order.sort((a, b) => rank(a) - rank(b) || compareNatural(experiments[a], experiments[b]) || a - b);
  const sorted = order.map((index) => experiments[index]);
  const records = order.map((index) => state.records[index]);
  experiments.splice(start, sorted.length, ...sorted);
  state.records.splice(start, records.length, ...records);
}

/** The answer to an Update: settings, and where each named experiment stands. */
export function steerAnswer(state: BatchState, names: readonly string[]): SteerAnswer {
  const wanted = new Set(names);
  const experiments: SteerAnswer['experiments'] = [];
  let place = 0;
  state.experiments.forEach((experiment, index) => {
    const { status } = state.records[index];
    const queued = isQueued(state, index) && !isFinal(status);
    if (queued) place++;
    if (!wanted.has(experiment.name)) return;
    const { pausedSince } = state.records[index];
    experiments.push({
      name: experiment.name,
      priority: experiment.priority,
      status,
      place: queued ? place : null,
      ...(pausedSince !== undefined ? { pausedSince } : {}),
    });
  });
  return {
    maxConcurrent: state.settings.maxConcurrent,
    maxRetries: state.settings.maxRetries,
    pausedSince: state.pausedSince ?? null,
    experiments,
  };
}
