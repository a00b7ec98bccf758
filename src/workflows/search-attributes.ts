/** Custom search attributes staged sets so that batches and experiments can be found in the Web UI. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const BATCH_ID_KEY = defineSearchAttributeKey('StagedBatchId', SearchAttributeType.KEYWORD);
export const EXPERIMENT_KEY = defineSearchAttributeKey('StagedExperiment', SearchAttributeType.KEYWORD);
export const PRIORITY_ATTRIBUTE_KEY = defineSearchAttributeKey('StagedPriority', SearchAttributeType.KEYWORD);
export const STATUS_KEY = defineSearchAttributeKey('StagedStatus', SearchAttributeType.KEYWORD);

export const STAGED_SEARCH_ATTRIBUTES = [BATCH_ID_KEY, EXPERIMENT_KEY, PRIORITY_ATTRIBUTE_KEY, STATUS_KEY];
