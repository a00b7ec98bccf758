export { createActivities, type StagedActivities } from './run-experiment.js';
export type { ShutdownMode } from './attach.js';
