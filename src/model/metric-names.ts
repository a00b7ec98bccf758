/**
 * staged's own Prometheus metrics, served by each worker beside the SDK's (`--metrics`), with their
 * help text. Pure: the workflow bundle, the worker and the docs' table read the same names.
 * Labels: `batch` (batch id), `priority`, and where said `status`, `outcome` or `quota`; never an experiment.
 */
export const METRICS = {
  // Counted by the batch workflow from its own state, once per change (the workflow meter skips replays).
  submitted: { name: 'staged_experiments_submitted', help: 'experiments in batches that started' },
  started: { name: 'staged_experiments_started', help: 'experiments whose first attempt started' },
  ended: {
    name: 'staged_experiments_ended',
    help: 'experiments that reached a final status (label status: completed, failed, cancelled)',
  },
  attempts: { name: 'staged_attempts', help: 'attempts started (process starts), as the batch counts them' },
  retries: { name: 'staged_retries', help: 'retries scheduled after a failed attempt' },
  // Measured by the worker that holds the run.
  running: { name: 'staged_experiments_running', help: 'experiment processes this worker holds now' },
  startWait: {
    name: 'staged_start_wait_seconds',
    help: 'from an attempt being handed to the workers to its process start (waiting for --slots included)',
  },
  runDuration: {
    name: 'staged_run_duration_seconds',
    help: 'how long an attempt ran (label outcome: completed, failed, timeout, cancelled)',
  },
  slots: { name: 'staged_worker_slots', help: "this worker's --slots" },
  quotaGranted: { name: 'staged_quota_calls_granted', help: "calls of a quota granted to this worker's runs" },
  quotaWasted: {
    name: 'staged_quota_calls_wasted',
    help: 'calls of a quota granted to this worker after their caller had gone or too late to use',
  },
} as const;

/** Histogram buckets, in seconds: a start waits from milliseconds to hours, a run lasts from seconds to days. */
export const START_WAIT_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];
export const RUN_DURATION_BUCKETS = [1, 10, 60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 12 * 3600, 24 * 3600];
