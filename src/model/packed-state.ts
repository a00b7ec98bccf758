/**
 * The wire form of a BatchState: columns instead of one object per experiment, times as offsets.
 * A batch travels whole in its input, every continue-as-new, every query and its result, so this
 * keeps 5,000 experiments near 250 KB, under Temporal's 512 KB payload warning. Workflow-safe.
 */
import { experimentIdOf } from './batch-state.js';
import {
  PRIORITIES,
  type BatchSettings,
  type BatchState,
  type EndReason,
  type ExperimentRecord,
  type ExperimentSpec,
  type ExperimentStatus,
} from './types.js';
import { packSweeps, unpackMember, type PackedSweeps } from './packed-sweeps.js';
import { standingFreedPlaces } from './freed-places.js';

/** Appended to, never reordered: packed states in running workflows hold these indexes. */
const STATUS_CODES: readonly ExperimentStatus[] = [
  'queued',
  'running',
  'retrying',
  'completed',
  'failed',
  'cancelled',
  'waiting-quota',
  'held',
  'skipped',
];

export interface PackedBatchState {
  batchId: string;
  createdAt: number;
  settings: BatchSettings;
  nextIndex: number;
  /** Absent when none, and in states packed before deferral existed. */
  deferred?: number[];
  cancelRequested: boolean;
  /** Absent unless paused. */
  pausedSince?: number;
  generation: number;
  /** As BatchState's; absent when none. */
  notifications?: BatchState['notifications'];
  notifyFailures?: string[];
  /** Experiment names; ids are derived from them. */
  names: string[];
  /** File name minus experiment name: the extension, usually. */
  suffixes: string[];
  /** One digit per experiment: index into PRIORITIES. */
  priorities: string;
  /** One digit per experiment: index into STATUS_CODES. */
  statuses: string;
  attempts: number[];
  exitCodes: (number | null)[];
  /** Milliseconds after createdAt; null when unset. */
  startedAt: (number | null)[];
  closedAt: (number | null)[];
  /** Only experiments that have them, by index. */
  retryAt: Record<number, number>;
  errors: Record<number, string>;
  /** Why the last attempt ended, only for experiments that have one; absent in states packed before it existed. */
  reasons?: Record<number, EndReason>;
  /** The quotas of experiments that use any, by index; absent in states packed before quotas existed. */
  quotas?: Record<number, string[]>;
  /** Indexes of the experiments with `Metering: manual`; absent when none (and in states packed before it existed). */
  manualMetering?: number[];
  /** The `Calls:` estimates of experiments that have one, by index; absent when none has. */
  estimates?: Record<number, number>;
  /** The calls of experiments that made any (by quota), by index; absent when none did. */
  calls?: Record<number, Record<string, number>>;
  /** What experiments with a `Requires:` line need, by index; absent when none (and in older states). */
  requires?: Record<number, Record<string, number>>;
  /** The `After:` and `After-any:` names of experiments that have them, by index; absent when none has. */
  after?: Record<number, string[]>;
  afterAny?: Record<number, string[]>;
  /** Since when the runs of paused experiments are frozen, by index; absent when none is. */
  runsPausedSince?: Record<number, number>;
  /** The requeues of experiments that had any, by index; absent when none had. */
  requeues?: Record<number, number>;
  /** The lost runs of experiments that had any, by index; absent when none had. */
  lostRuns?: Record<number, number>;
  /** Sweep members, by index (their names and suffixes are empty when derived); absent when the batch has none. */
  sweeps?: PackedSweeps;
  /** As BatchState's, only marks that still free a place; absent when none (and in states packed before it). */
  placesFreed?: Record<number, number>;
}

const offset = (time: number | undefined, createdAt: number) => (time === undefined ? null : time - createdAt);
const time = (value: number | null, createdAt: number) => (value === null ? undefined : value + createdAt);

export function packBatchState(state: BatchState): PackedBatchState {
  const { records, createdAt } = state;
  const retryAt: Record<number, number> = {};
  const errors: Record<number, string> = {};
  const reasons: Record<number, EndReason> = {};
  const quotas: Record<number, string[]> = {};
  const manualMetering: number[] = [];
  const estimates: Record<number, number> = {};
  const calls: Record<number, Record<string, number>> = {};
  const requires: Record<number, Record<string, number>> = {};
  const after: Record<number, string[]> = {};
  const afterAny: Record<number, string[]> = {};
  const runsPausedSince: Record<number, number> = {};
  const requeues: Record<number, number> = {};
  const lostRuns: Record<number, number> = {};
  state.experiments.forEach((experiment, index) => {
    if (experiment.requires) requires[index] = experiment.requires;
    if (experiment.after?.length) after[index] = experiment.after;
    if (experiment.afterAny?.length) afterAny[index] = experiment.afterAny;
    if (experiment.quotas?.length) quotas[index] = experiment.quotas;
    if (experiment.metering === 'manual') manualMetering.push(index);
    if (experiment.calls !== undefined) estimates[index] = experiment.calls;
  });
  records.forEach((record, index) => {
    if (record.calls !== undefined) calls[index] = record.calls;
    if (record.reason !== undefined) reasons[index] = record.reason;
    if (record.retryAt !== undefined) retryAt[index] = record.retryAt;
    if (record.error !== undefined) errors[index] = record.error;
    if (record.pausedSince !== undefined) runsPausedSince[index] = record.pausedSince;
    if (record.requeues) requeues[index] = record.requeues;
    if (record.lostRuns) lostRuns[index] = record.lostRuns;
  });
  const sweeps = packSweeps(state.experiments);
  const placesFreed = standingFreedPlaces(state);
  return {
    batchId: state.batchId,
    createdAt,
    settings: state.settings,
    nextIndex: state.nextIndex,
    ...(state.deferred?.length ? { deferred: state.deferred } : {}),
    cancelRequested: state.cancelRequested,
    ...(state.pausedSince !== undefined ? { pausedSince: state.pausedSince } : {}),
    generation: state.generation,
    ...(state.notifications?.length ? { notifications: state.notifications } : {}),
    ...(state.notifyFailures?.length ? { notifyFailures: state.notifyFailures } : {}),
    names: state.experiments.map((experiment, index) => (sweeps?.derived.has(index) ? '' : experiment.name)),
    suffixes: state.experiments.map((experiment) =>
      experiment.params ? '' : experiment.file.slice(experiment.name.length),
    ),
    priorities: state.experiments.map((experiment) => PRIORITIES.indexOf(experiment.priority)).join(''),
    statuses: records.map((record) => STATUS_CODES.indexOf(record.status)).join(''),
    attempts: records.map((record) => record.attempts),
    exitCodes: records.map((record) => record.exitCode),
    startedAt: records.map((record) => offset(record.startedAt, createdAt)),
    closedAt: records.map((record) => offset(record.closedAt, createdAt)),
    retryAt,
    errors,
    reasons,
    ...(Object.keys(quotas).length ? { quotas } : {}),
    ...(manualMetering.length ? { manualMetering } : {}),
    ...(Object.keys(estimates).length ? { estimates } : {}),
    ...(Object.keys(calls).length ? { calls } : {}),
    ...(Object.keys(requires).length ? { requires } : {}),
    ...(Object.keys(after).length ? { after } : {}),
    ...(Object.keys(afterAny).length ? { afterAny } : {}),
    ...(Object.keys(runsPausedSince).length ? { runsPausedSince } : {}),
    ...(Object.keys(requeues).length ? { requeues } : {}),
    ...(Object.keys(lostRuns).length ? { lostRuns } : {}),
    ...(sweeps ? { sweeps: sweeps.packed } : {}),
    ...(placesFreed ? { placesFreed } : {}),
  };
}

export function unpackBatchState(packed: PackedBatchState): BatchState {
  const { createdAt } = packed;
  const manualMetering = new Set(packed.manualMetering);
  return {
    batchId: packed.batchId,
    createdAt,
    settings: packed.settings,
    nextIndex: packed.nextIndex,
    ...(packed.deferred?.length ? { deferred: packed.deferred } : {}),
    cancelRequested: packed.cancelRequested,
    ...(packed.pausedSince !== undefined ? { pausedSince: packed.pausedSince } : {}),
    generation: packed.generation,
    ...(packed.notifications?.length ? { notifications: packed.notifications } : {}),
    ...(packed.notifyFailures?.length ? { notifyFailures: packed.notifyFailures } : {}),
    ...(packed.placesFreed ? { placesFreed: { ...packed.placesFreed } } : {}),
    experiments: packed.names.map((name, index): ExperimentSpec => {
      const member = packed.sweeps ? unpackMember(packed.sweeps, index, name) : undefined;
      const experiment: ExperimentSpec = {
        id: experimentIdOf(member?.name ?? name),
        name: member?.name ?? name,
        file: member?.file ?? name + packed.suffixes[index],
        priority: PRIORITIES[Number(packed.priorities[index])],
      };
      const quotas = packed.quotas?.[index];
      if (quotas) experiment.quotas = quotas;
      if (manualMetering.has(index)) experiment.metering = 'manual';
      const estimate = packed.estimates?.[index];
      if (estimate !== undefined) experiment.calls = estimate;
      const requires = packed.requires?.[index];
      if (requires) experiment.requires = requires;
      const after = packed.after?.[index];
      if (after) experiment.after = after;
      const afterAny = packed.afterAny?.[index];
      if (afterAny) experiment.afterAny = afterAny;
      if (member) experiment.params = member.params;
      return experiment;
    }),
    records: packed.names.map((_, index): ExperimentRecord => {
      const record: ExperimentRecord = {
        status: STATUS_CODES[Number(packed.statuses[index])],
        attempts: packed.attempts[index],
        exitCode: packed.exitCodes[index],
      };
      const startedAt = time(packed.startedAt[index], createdAt);
      const closedAt = time(packed.closedAt[index], createdAt);
      if (startedAt !== undefined) record.startedAt = startedAt;
      if (closedAt !== undefined) record.closedAt = closedAt;
      if (packed.retryAt[index] !== undefined) record.retryAt = packed.retryAt[index];
      if (packed.errors[index] !== undefined) record.error = packed.errors[index];
      const reason = packed.reasons?.[index];
      if (reason !== undefined) record.reason = reason;
      const calls = packed.calls?.[index];
      if (calls !== undefined) record.calls = calls;
      const pausedSince = packed.runsPausedSince?.[index];
      if (pausedSince !== undefined) record.pausedSince = pausedSince;
      const requeues = packed.requeues?.[index];
      if (requeues) record.requeues = requeues;
      const lostRuns = packed.lostRuns?.[index];
      if (lostRuns) record.lostRuns = lostRuns;
      return record;
    }),
  };
}
