export { batchWorkflow } from './batch.js';
export { experimentWorkflow } from './experiment.js';
