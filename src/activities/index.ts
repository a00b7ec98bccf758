export { runExperiment } from './run-experiment.js';
