export { createActivities, type StagedActivities } from './run-experiment.js';
export type { ShutdownMode } from './hold-run.js';
