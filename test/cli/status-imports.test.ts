/**
 * `status` stays light: it reaches the workflows by name (src/batch-client/workflow-names.ts) instead of
 * importing their definitions, so neither the workflow SDK nor the worker's is loaded by it.
 */
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import {
  BATCH_STATE_QUERY,
  BATCH_WORKFLOW,
  BUDGET_QUERY,
  BUDGET_WORKFLOW,
  DECLARE_SIGNAL,
  PAUSE_SIGNAL,
  RESET_SIGNAL,
  budgetWorkflowId,
  CANCEL_EXPERIMENTS_SIGNAL,
} from '../../src/batch-client/workflow-names.js';
import { batchWorkflow } from '../../src/workflows/batch.js';
import { batchStateQuery, cancelExperimentsSignal } from '../../src/workflows/messages.js';
import {
  budgetQuery,
  budgetWorkflowId as definedBudgetWorkflowId,
  declareSignal,
  pauseSignal,
  quotaBudgetWorkflow,
  resetSignal,
} from '../../src/workflows/quota-budget.js';

test('the names the client uses are those the workflows define', () => {
  expect(BATCH_WORKFLOW).toBe(batchWorkflow.name);
  expect(BATCH_STATE_QUERY).toBe(batchStateQuery.name);
  expect(CANCEL_EXPERIMENTS_SIGNAL).toBe(cancelExperimentsSignal.name);
  expect(BUDGET_QUERY).toBe(budgetQuery.name);
  expect([BUDGET_WORKFLOW, DECLARE_SIGNAL, PAUSE_SIGNAL, RESET_SIGNAL]).toEqual([
    quotaBudgetWorkflow.name,
    declareSignal.name,
    pauseSignal.name,
    resetSignal.name,
  ]);
  expect(budgetWorkflowId('queue-a', 'openai')).toBe(definedBudgetWorkflowId('queue-a', 'openai'));
});

test('the status command loads neither @temporalio/workflow nor @temporalio/worker', async () => {
  const status = fileURLToPath(new URL('../../src/cli/commands/status.js', import.meta.url));
  // The Temporal packages are CommonJS: every file of theirs that was loaded is in require's cache.
  const script =
    `await import(${JSON.stringify(status)});` +
    `const { createRequire } = await import('node:module');` +
    `console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const { stdout } = await execa(process.execPath, ['--input-type=module', '-e', script]);
  const loaded: string[] = JSON.parse(stdout);
  expect(loaded.some((file) => file.includes('/@temporalio/client/'))).toBe(true); // the check sees packages
  expect(loaded.filter((file) => /\/@temporalio\/(workflow|worker)\//.test(file))).toEqual([]);
});
