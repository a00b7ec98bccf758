export { createActivities, DEFAULT_LOG_LIMIT_BYTES, type StagedActivities } from './run-experiment.js';
