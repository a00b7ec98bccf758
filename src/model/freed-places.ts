/**
 * Places of `maxConcurrent` given back early: when an experiment's run exits 0, its activity tells the batch
 * before the experiment workflow closes, and the batch starts the next experiment meanwhile. The batch keeps which
 * run of each experiment gave its place back (`state.placesFreed`), so that the experiment's end frees nothing
 * twice and a run of it that starts again holds a place again. Workflow-safe and pure.
 */
import type { BatchState, ExperimentRecord } from './types.js';

/** The `patched()` id of a batch that frees a place on a run's clean exit; batches started before wait for the end. */
export const PLACE_FREED_PATCH = 'place-freed-on-clean-exit';

/** What the activity tells the batch when a run's process exited 0. */
export interface CleanExit {
  index: number;
  /** The experiment's name: an index alone could name another experiment of a changed queue. */
  name: string;
  run: number;
  /**
   * Its worker had a slot free beside the run, for a while, as it ended: no run was waiting for a slot there
   * (run-experiment.ts). Absent otherwise, and from workers before it.
   */
  slotFreeBeside?: true;
}

/**
 * Whether `run`'s clean exit still frees the experiment's place: the experiment has not moved on to another run
 * (queued again after a lost run, or a later run announced). A final record holds no place anyway.
 */
function exitStands(record: ExperimentRecord, run: number): boolean {
  if (record.status === 'running') return record.attempts <= run;
  return record.status === 'queued' && record.attempts < run; // a short run is never shown running
}

/**
 * Frees the place of an experiment whose run exited 0. False, and nothing changes, for a late or stray message:
 * the experiment has ended, has not started, has moved on to a later run, or is not the one named.
 */
export function freePlace(state: BatchState, exit: CleanExit): boolean {
  const { index, run } = exit;
  const record = state.records[index];
  if (!record || state.experiments[index].name !== exit.name) return false;
  if (index >= state.nextIndex || state.deferred?.includes(index)) return false;
  if (!exitStands(record, run) || state.placesFreed?.[index] === run) return false;
  (state.placesFreed ??= {})[index] = run;
  return true;
}

/** Whether experiment `index` gave its place back: its run exited 0 and it has not moved on since. */
export function placeFreed(state: BatchState, index: number): boolean {
  const run = state.placesFreed?.[index];
  return run !== undefined && exitStands(state.records[index], run);
}

/** The marks that still free a place, for the packed state; undefined when none does. */
export function standingFreedPlaces(state: BatchState): Record<number, number> | undefined {
  const standing = Object.entries(state.placesFreed ?? {}).filter(([index]) => placeFreed(state, Number(index)));
  return standing.length ? Object.fromEntries(standing) : undefined;
}
