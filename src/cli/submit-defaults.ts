/** `submit`'s defaults, as flags are written; light, so `--help` loads no validation library. */
export const SUBMIT_DEFAULTS = {
  dir: './experiments',
  maxConcurrent: '3',
  maxRetries: '2',
  retryDelay: '10s',
  heartbeatTimeout: '30s',
  killGrace: '10s',
  statusInterval: '30s',
} as const;
