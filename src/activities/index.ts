export { createActivities, type ShutdownMode, type StagedActivities } from './run-experiment.js';
