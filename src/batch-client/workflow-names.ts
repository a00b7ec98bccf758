/**
 * The names by which the client reaches the workflows: their type, queries and signals, as src/workflows/
 * defines them (test/cli/status-imports.test.ts checks they agree). Importing the definitions
 * themselves would load @temporalio/workflow and the workflows' code into every command: `status` did.
 */
export const BATCH_WORKFLOW = 'batchWorkflow';
/** batchStateQuery: the batch's whole state, packed. */
export const BATCH_STATE_QUERY = 'batchState';
/** cancelExperimentsSignal: cancels experiments of a batch by name. */
export const CANCEL_EXPERIMENTS_SIGNAL = 'cancelExperiments';
/** budgetQuery: a quota budget's view. */
export const BUDGET_QUERY = 'budget';

/** quotaBudgetWorkflow, and its declareSignal, resetSignal and pauseSignal. */
export const BUDGET_WORKFLOW = 'quotaBudgetWorkflow';
export const DECLARE_SIGNAL = 'declare';
export const RESET_SIGNAL = 'reset';
export const PAUSE_SIGNAL = 'pause';

/** budgetWorkflowId: one quota's budget per task queue. */
export function budgetWorkflowId(taskQueue: string, quota: string): string {
  return `staged-quota/${taskQueue}/${quota}`;
}
