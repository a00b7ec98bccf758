export {
  createActivities,
  DEFAULT_ADOPT_WINDOW_MS,
  DEFAULT_LOG_LIMIT_BYTES,
  type ShutdownMode,
  type StagedActivities,
} from './run-experiment.js';
