/** The batch client: every call staged makes to Temporal about batches. Commands, tests and the bench go through it. */
export {
  ANSWER_TIMEOUT_MS,
  checkNamespace,
  connect,
  withClient,
  withConnection,
  withReadingClient,
} from './connect.js';
export {
  batchSummary,
  cancelBatch,
  cancelExperiments,
  finalBatchState,
  findBatch,
  listBatches,
  queryBatchState,
  readBatch,
  startBatch,
  withinAnswerTime,
  type BatchHandle,
  type BatchListing,
  type BatchReading,
} from './batches.js';
export { callsMeasuredEarlier, completedEarlier, notCompletedIn } from './earlier.js';
export { completedOnDisk, readSummaryFile, reserveBatchId, type BatchRecord } from './files.js';
export { runningProgress } from './progress.js';
export { withTerminations } from './terminated.js';
export { POLLING_WITHIN_MS, QUICK_ANSWER_MS, type WorkerSilence } from './kept-state.js';
export { declarationText, declareQuotas, quotaView, quotaViews } from './quotas.js';
export { liveBatch, sendChange, type LiveBatch } from './steer.js';
export { liveMachines, waitingForMachines, type AskedPollers, type WaitingExperiment } from './machines.js';
export { sharedMachines, type SharedMachine } from './shared-machines.js';
