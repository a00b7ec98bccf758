/** Messages between the CLI, the batch workflow and its experiment workflows. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { PackedBatchState } from '../shared/packed-state.js';
import type { ExperimentReport } from '../shared/types.js';

/** Sent by an experiment workflow to its batch whenever its record changes. */
export const experimentReportSignal = defineSignal<[ExperimentReport]>('experimentReport');

/** The batch's whole state, packed, for `status`, `watch` and `submit`. */
export const batchStateQuery = defineQuery<PackedBatchState>('batchState');

/** Cancels some experiments of a batch by name: queued ones never start, running ones are stopped. */
export const cancelExperimentsSignal = defineSignal<[string[]]>('cancelExperiments');

/**
 * Sent by a batch, before it continues as new, to the experiments it started: from then on they
 * report their end by signal, since their completion would reach the closed run.
 */
export const reportEndBySignal = defineSignal('reportEndBySignal');

/** Sent by the activity to its experiment workflow once a run's process has started (not when adopted). */
export const runStartedSignal = defineSignal<[{ run: number; startedAt: number }]>('runStarted');

/** Sent by a quota's budget to an experiment workflow that asked for one of the quota's slots. */
export const quotaSlotGrantedSignal = defineSignal<[{ quota: string }]>('quotaSlotGranted');
