/**
 * The batch and experiment workflows by name, and the messages between the CLI, the batch, its experiments
 * and the activities. Workflows and clients both import these; nothing here loads workflow code.
 */
import type { PackedBatchState } from '../model/packed-state.js';
import type { AddRequest, BatchChange, ExperimentsChange, SteerAnswer } from '../model/steering.js';
import type { ExperimentReport, RunLocation } from '../model/types.js';
import type { ExperimentsPause } from '../model/run-pause.js';
import type { CleanExit } from '../model/freed-places.js';
import { query, signal, update } from './define.js';

export const BATCH_WORKFLOW = 'batchWorkflow';
export const EXPERIMENT_WORKFLOW = 'experimentWorkflow';

/** A batch's input and result: its whole state, packed (it continues as new with it). */
export type BatchWorkflow = (state: PackedBatchState) => Promise<PackedBatchState>;

/** Sent by an experiment workflow to its batch whenever its record changes. */
export const experimentReportSignal = signal<[ExperimentReport]>('experimentReport');

/** The batch's whole state, packed, for `status`, `watch` and `submit`. */
export const batchStateQuery = query<PackedBatchState>('batchState');

/** Cancels some experiments of a batch by name: queued ones never start, running ones are stopped. */
export const cancelExperimentsSignal = signal<[string[]]>('cancelExperiments');

/** Adds experiments to a running batch's queue (`add`); answered with where they stand. */
export const addExperimentsUpdate = update<SteerAnswer, [AddRequest]>('addExperiments');

/** Reprioritises, holds or releases queued experiments (`change <exp>…`). */
export const changeExperimentsUpdate = update<SteerAnswer, [ExperimentsChange]>('changeExperiments');

/** Changes `maxConcurrent` or `maxRetries`, pauses or resumes the batch (`change`, `pause`, `resume`). */
export const changeBatchUpdate = update<SteerAnswer, [BatchChange]>('changeBatch');

/** Freezes or thaws running experiments (`pause`/`resume <batchId> <exp>…`); answered once each run is. */
export const pauseExperimentsUpdate = update<SteerAnswer, [ExperimentsPause]>('pauseExperiments');

/** Sent by a batch to a running experiment: freeze its run (`paused: true`) or thaw it. */
export const pauseRunSignal = signal<[{ paused: boolean }]>('pauseRun');

/** Sent by a batch to its running experiments when its `maxRetries` changes: their next failure, or waiting retry. */
export const maxRetriesChangedSignal = signal<[number]>('maxRetriesChanged');

/**
 * Sent by a batch, before it continues as new, to the experiments it started: from then on they
 * report their end by signal, since their completion would reach the closed run.
 */
export const reportEndBySignal = signal('reportEndBySignal');

/**
 * Sent by the activity to its experiment workflow once a run's process has started (not when adopted), with where
 * the run lives (absent from workers before `pause <batchId> <exp>`).
 */
export const runStartedSignal = signal<[{ run: number; startedAt: number; location?: RunLocation }]>('runStarted');

/**
 * Sent by the activity to the batch (by workflow id) once a run's process exited 0, before its experiment workflow
 * closes: the batch gives the experiment's place to the next experiment meanwhile (model/freed-places.ts).
 */
export const cleanExitSignal = signal<[CleanExit]>('runExitedCleanly');

/** Sent by a quota's budget to an experiment workflow that asked for one of the quota's slots. */
export const quotaSlotGrantedSignal = signal<[{ quota: string }]>('quotaSlotGranted');

/** The memo keys `status` reads: since when nobody holds the run (workflows/run-watchdog.ts), and its window. */
export const RUN_UNHELD_SINCE_MEMO = 'runUnheldSince';
export const RUN_ADOPT_WINDOW_MEMO = 'runAdoptWindowMs';
