/** Custom search attributes staged sets so that batches and experiments can be found in the Web UI. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const BATCH_ID_SEARCH_ATTRIBUTE = defineSearchAttributeKey('StagedBatchId', SearchAttributeType.KEYWORD);
export const EXPERIMENT_SEARCH_ATTRIBUTE = defineSearchAttributeKey('StagedExperiment', SearchAttributeType.KEYWORD);
export const PRIORITY_SEARCH_ATTRIBUTE = defineSearchAttributeKey('StagedPriority', SearchAttributeType.KEYWORD);
export const STATUS_SEARCH_ATTRIBUTE = defineSearchAttributeKey('StagedStatus', SearchAttributeType.KEYWORD);

export const STAGED_SEARCH_ATTRIBUTES = [
  BATCH_ID_SEARCH_ATTRIBUTE,
  EXPERIMENT_SEARCH_ATTRIBUTE,
  PRIORITY_SEARCH_ATTRIBUTE,
  STATUS_SEARCH_ATTRIBUTE,
];
