export { createActivities, type StagedActivities } from './run-experiment.js';
export type { LetGoCause, NotStoppableWhen, ShutdownMode } from './hold-run.js';
