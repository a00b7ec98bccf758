/**
 * The embedded default: with no address configured and nothing on localhost:7233, staged starts
 * Temporal's dev server and a worker in the background; `down` stops them.
 */
import { realpath } from 'node:fs/promises';
import { Client, type Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { ConnectionConfig } from '../connection.js';
import { logFileOf, runningPidOf, serviceFiles, startInBackground } from '../server/background.js';
import { ServerTakenMeanwhileError, startBackgroundDevServer } from '../server/background-dev-server.js';
import { defaultDevServerOptions, serverAnswers, waitForDevServer } from '../server/dev-server.js';
import { removeServerRecord } from '../server/server-record.js';
import { metricsPortFor } from '../server/ports.js';
import { parseRetention } from '../server/retention.js';
import { retentionSetting } from '../settings.js';
import { findTemporalCli } from '../server/temporal-cli.js';
import { workerCommand, workerEnvironment } from './worker-command.js';
import { connect } from '../batch-client/index.js';
import { unservedReason } from '../batch-client/machines.js';
import { BadInputError, ServerExitedError } from '../errors.js';
import { commandHint, workerHint } from './invocation.js';

export async function connectOrStartServer(
  config: ConnectionConfig,
  workDir: string,
  log: (line: string) => void,
): Promise<Connection> {
  if (!(await serverAnswers(config.address))) {
    if (config.explicit) {
      throw new BadInputError(`no Temporal server answers at ${config.address} (set by TEMPORAL_ADDRESS or a profile)`);
    }
    const retentionMs = parseRetention(retentionSetting(), 'STAGED_RETENTION');
    const defaults = defaultDevServerOptions(workDir);
    const server = { ...defaults, metricsPort: await metricsPortFor(undefined) };
    const temporalCli = await findTemporalCli({ log });
    const namespace = config.namespace;
    try {
      await startBackgroundDevServer({ workDir, temporalCli, server, namespace, retentionMs, log });
      log(`[OK] The dev server answers at ${config.address}; stop it with ${commandHint('down')}`);
    } catch (err) {
      if (!(await takenMeanwhile(err, config.address, namespace, workDir))) throw err;
      const why = (err as Error).message.split('\n')[0];
      log(`[OK] ${why.charAt(0).toUpperCase()}${why.slice(1)} (another project's submit, started at the same time?)`);
      logUsingServerFound(config.address, log);
    }
  } else if (!config.explicit && runningPidOf(serviceFiles(workDir, 'server')) === undefined) {
    logUsingServerFound(config.address, log);
  }
  return connect(config);
}

/**
 * Whether the server started here lost its port to another started at the same time, which answers (or soon will):
 * then that one serves the batch, and the record of the one started here is removed.
 */
async function takenMeanwhile(err: unknown, address: string, namespace: string, workDir: string): Promise<boolean> {
  if (err instanceof ServerTakenMeanwhileError) return true;
  if (!(err instanceof ServerExitedError) || !/address already in use/.test(err.message)) return false;
  try {
    await waitForDevServer(address, namespace, { timeoutMs: OTHER_SERVER_WAIT_MS });
  } catch {
    return false;
  }
  removeServerRecord(workDir);
  return true;
}

/** How long a server that took the port first may take to answer: as long as a slow start of one's own. */
const OTHER_SERVER_WAIT_MS = 60_000;

/** Often another project's background server: a `down` there stops this batch's server too. */
function logUsingServerFound(address: string, log: (line: string) => void): void {
  log(
    `[OK] Using the Temporal server that already answers at ${address}, not started here in the ` +
      `background: the batch lives in that server's database, and ${commandHint('down')} here leaves it running`,
  );
}

async function hasWorker(client: Client, namespace: string, taskQueue: string): Promise<boolean> {
  const response = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return (response.pollers?.length ?? 0) > 0;
}

/**
 * Starts a background worker where staged owns the server, also beside one serving other directories (another
 * project's); elsewhere warns that none is polling. Returns whether it started one.
 */
export async function ensureWorker(
  client: Client,
  config: ConnectionConfig,
  taskQueue: string,
  workDir: string,
  log: (line: string) => void,
  servedDirs: string[] = [workDir],
): Promise<boolean> {
  if (await hasWorker(client, config.namespace, taskQueue)) {
    if (config.explicit) return false;
    const realDirs = await Promise.all(servedDirs.map((dir) => realpath(dir).catch(() => dir)));
    if (!(await unservedReason(client.workflowService, config.namespace, taskQueue, realDirs))) return false;
  } else if (config.explicit) {
    log(
      `[WARN] No worker polls task queue "${taskQueue}" at ${config.address}; start one with: ${workerHint(taskQueue)}`,
    );
    return false;
  }
  const args = ['--task-queue', taskQueue, '--allow-dir', ...new Set(servedDirs)];
  startInBackground(workDir, 'worker', process.execPath, workerCommand(args), workerEnvironment());
  log(
    `[OK] Started a worker in the background ` +
      `(log ${logFileOf(workDir, 'worker')}; stop it with ${commandHint('down')})`,
  );
  return true;
}
