export { createActivities, type StagedActivities } from './run-experiment.js';
export type { LetGoCause, ShutdownMode } from './hold-run.js';
