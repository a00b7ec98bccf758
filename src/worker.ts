/**
 * The worker: runs batch and experiment workflows and the experiment processes.
 * Its activity slots cap how many experiment processes this machine runs, across all batches.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel } from '@temporalio/worker';
import { createActivities, DEFAULT_LOG_LIMIT_BYTES } from './activities/index.js';
import { loadConnectionConfig, taskQueueName } from './connection.js';
import { WORKFLOW_BUNDLE_PATH, WORKFLOWS_PATH } from './workflow-bundle.js';

export const DEFAULT_SLOTS = 3;
/** Time for running experiments to be killed (SIGTERM, then SIGKILL) before the worker gives up. */
const SHUTDOWN_FORCE_MS = 30_000;
/** At most one heartbeat per run reaches the server in this time, however chatty its progress. */
export const PROGRESS_THROTTLE_MS = 2_000;

export interface StagedWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** How many experiment processes this worker runs at once. */
  slots: number;
  /** Bytes of output kept at the start of each attempt's log file. */
  logLimitBytes?: number;
}

export async function createStagedWorker(options: StagedWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    // The bundle `npm run build` made; without it (a plain `tsc`), bundle now, which is slower.
    ...(existsSync(WORKFLOW_BUNDLE_PATH) ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ logLimitBytes: options.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES }),
    maxConcurrentActivityTaskExecutions: options.slots,
    shutdownForceTime: SHUTDOWN_FORCE_MS,
    maxHeartbeatThrottleInterval: PROGRESS_THROTTLE_MS,
  });
}

function parsePositiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a positive integer');
  return parsed;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('staged worker')
    .description('Run staged workflows and experiment processes on this machine until SIGINT/SIGTERM.')
    .option('--slots <n>', 'experiment processes this machine runs at once, across all batches', parsePositiveInt, DEFAULT_SLOTS)
    .option('--task-queue <name>', 'task queue to poll (env STAGED_TASK_QUEUE)', taskQueueName())
    .option('--log-limit <MiB>', 'output kept at the start of each log file; past it, only the last lines', parsePositiveInt, DEFAULT_LOG_LIMIT_BYTES / 1024 / 1024)
    .parse(argv);
  const { slots, taskQueue, logLimit } = program.opts<{ slots: number; taskQueue: string; logLimit: number }>();
  Runtime.install({ logger: new DefaultLogger((process.env.STAGED_LOG_LEVEL?.toUpperCase() ?? 'INFO') as LogLevel) });
  const config = loadConnectionConfig();
  const connection = await NativeConnection.connect(config.options);
  try {
    const worker = await createStagedWorker({
      connection,
      namespace: config.namespace,
      taskQueue,
      slots,
      logLimitBytes: logLimit * 1024 * 1024,
    });
    console.log(`staged worker: ${config.address} namespace=${config.namespace} queue=${taskQueue} slots=${slots}`);
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv).catch((err) => {
    console.error(`staged worker: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
