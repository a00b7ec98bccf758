export { batchWorkflow } from './batch.js';
export { experimentWorkflow } from './experiment.js';
export { quotaBudgetWorkflow } from './quota-budget.js';
