/**
 * Which experiment a batch starts next. Strictly in order, except around quotas: while a started
 * experiment waits for its quota (a slot of a full `maxConcurrent`, or a 429's pause), later experiments
 * of that quota are deferred so that the batch's slots go to experiments that can run;
 * deferred ones start first, in order, once their quota lets them. Workflow-safe and pure.
 */
import { isFinal } from './batch-state.js';
import { waitingFor } from './dependencies.js';
import { placeFreed } from './freed-places.js';
import type { BatchSettings, BatchState, ExperimentSpec } from './types.js';

/** The `patched()` id of quota slots and deferring: workflows started before them keep their old commands. */
export const QUOTA_SLOTS_PATCH = 'quota-slots';

type NextStart =
  | { start: number }
  /** `index` is next, but `blocker` waits for one of its quotas: wait a little before passing it over. */
  | { index: number; blocker: number }
  | 'nothing-startable';

/** The quotas of an experiment that cap how many of their experiments run at once. */
export function slotQuotasOf(experiment: ExperimentSpec, settings: BatchSettings): string[] {
  return (experiment.quotas ?? []).filter((name) => settings.quotas?.[name]?.maxConcurrent !== undefined);
}

/**
 * The `patched()` id of a batch that refills at once the places freed where a slot was free beside the run
 * (`refillsAtOnce`); batches started before start one child per workflow task.
 */
export const REFILL_AT_ONCE_PATCH = 'refill-at-once';

/**
 * Whether the batch may start the next child in the same workflow task as `experiment`'s, not once this one has
 * started. One start per task keeps experiments of one priority in order while they wait for worker slots; places
 * freed by clean exits whose workers had a slot free beside (`roomyExits` not refilled yet, freed-places.ts) are
 * refilled at once, since no run waits for a slot there. Only after an experiment that asks no machine for resources
 * and no quota for a slot: those wait for theirs in other lines.
 */
export function refillsAtOnce(experiment: ExperimentSpec, settings: BatchSettings, roomyExits: number): boolean {
  const plain = Object.keys(experiment.requires ?? {}).length === 0 && slotQuotasOf(experiment, settings).length === 0;
  return roomyExits > 0 && plain;
}

export function isUnstarted(state: BatchState, index: number): boolean {
  return index >= state.nextIndex || (state.deferred?.includes(index) ?? false);
}

/** The `patched()` id of a batch that ends once every queued experiment was cancelled (it waited before). */
export const QUEUE_EMPTIED_PATCH = 'queue-emptied-ends';

/** Whether an experiment not yet started may still start: one in the queue or deferred, not ended. */
export function hasStartable(state: BatchState): boolean {
  for (let index = state.nextIndex; index < state.experiments.length; index++) {
    if (!isFinal(state.records[index].status)) return true;
  }
  return Boolean(state.deferred?.some((index) => !isFinal(state.records[index].status)));
}

export function hasUnstarted(state: BatchState): boolean {
  return state.nextIndex < state.experiments.length || Boolean(state.deferred?.length);
}

/** Each quota some started experiment is waiting for, with the first such experiment. */
function waitingQuotas(state: BatchState): Map<string, number> {
  const deferred = new Set(state.deferred);
  const waiting = new Map<string, number>();
  for (let index = 0; index < state.nextIndex; index++) {
    if (state.records[index].status !== 'waiting-quota' || deferred.has(index)) continue;
    for (const quota of state.experiments[index].quotas ?? []) if (!waiting.has(quota)) waiting.set(quota, index);
  }
  return waiting;
}

function blockerOf(state: BatchState, index: number, waiting: Map<string, number>): number | undefined {
  for (const quota of state.experiments[index].quotas ?? []) {
    const blocker = waiting.get(quota);
    if (blocker !== undefined && blocker !== index) return blocker;
  }
  return undefined;
}

/**
 * Picks the next experiment to start, deferring (into `state.deferred`) those whose quota another
 * started experiment has waited for long enough (`mayPassOver`; without it, strictly in order).
 * Drops cancelled ones on the way.
 */
export function pickNextStart(state: BatchState, mayPassOver?: (blocker: number) => boolean): NextStart {
  const waiting = mayPassOver ? waitingQuotas(state) : new Map<string, number>();
  state.deferred = state.deferred?.filter((index) => !isFinal(state.records[index].status));
  for (const index of state.deferred ?? []) {
    if (blockerOf(state, index, waiting) === undefined) return { start: index };
  }
  while (state.nextIndex < state.experiments.length) {
    const index = state.nextIndex;
    if (isFinal(state.records[index].status)) {
      state.nextIndex++; // cancelled before it started
      continue;
    }
    // Held ones come last, and those waiting for other experiments just before them (steering.ts, sortQueue).
    if (state.records[index].status === 'held' || waitingFor(state, index).length) return 'nothing-startable';
    const blocker = blockerOf(state, index, waiting);
    if (blocker === undefined) return { start: index };
    if (!mayPassOver!(blocker)) return { index, blocker };
    (state.deferred ??= []).push(index);
    state.nextIndex++;
  }
  return 'nothing-startable';
}

/** Marks `index` started: it leaves the deferred list, or `nextIndex` moves past it. */
export function markStarted(state: BatchState, index: number): void {
  if (index === state.nextIndex) state.nextIndex++;
  else state.deferred = state.deferred?.filter((deferred) => deferred !== index);
}

/** Whether some deferred experiment's quota lets it start now. */
export function deferredStartable(state: BatchState): boolean {
  if (!state.deferred?.length) return false;
  const waiting = waitingQuotas(state);
  return state.deferred.some((index) => blockerOf(state, index, waiting) === undefined);
}

/** Whether experiment `index` still waits for `blocker`'s quota. */
export function stillBlocked(state: BatchState, index: number): boolean {
  return blockerOf(state, index, waitingQuotas(state)) !== undefined;
}

/** The `patched()` id of experiments waiting for a machine's resources holding no place of `maxConcurrent`. */
export const RESOURCE_WAIT_PATCH = 'resource-wait-frees-place';

/**
 * How many of the batch's `maxConcurrent` places are held: by experiments started and not ended, except those
 * waiting for a machine that has what they require (`waitsForMachine`), so experiments that can run take them,
 * and those whose run exited 0 (freed-places.ts).
 */
export function placesHeld(state: BatchState, waitsForMachine: (index: number) => boolean): number {
  const deferred = new Set(state.deferred);
  let held = 0;
  for (let index = 0; index < state.nextIndex; index++) {
    const record = state.records[index];
    if (!deferred.has(index) && !isFinal(record.status) && !waitsForMachine(index) && !placeFreed(state, index)) held++;
  }
  return held;
}
