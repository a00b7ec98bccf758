/**
 * The embedded default: with no address configured and nothing on localhost:7233, staged starts
 * Temporal's dev server and a worker in the background; `down` stops them.
 */
import { realpath } from 'node:fs/promises';
import { Client, type Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { ConnectionConfig } from '../connection.js';
import { logFileOf, runningPidOf, serviceFiles, startInBackground } from '../server/background.js';
import { startBackgroundDevServer } from '../server/background-dev-server.js';
import { defaultDevServerOptions, serverAnswers } from '../server/dev-server.js';
import { metricsPortFor } from '../server/ports.js';
import { parseRetention } from '../server/retention.js';
import { retentionSetting } from '../settings.js';
import { findTemporalCli } from '../server/temporal-cli.js';
import { workerCommand, workerEnvironment } from './worker-command.js';
import { connect } from '../batch-client/index.js';
import { unservedReason } from '../batch-client/machines.js';
import { BadInputError } from '../errors.js';
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
    await startBackgroundDevServer({ workDir, temporalCli, server, namespace, retentionMs, log });
    log(`[OK] The dev server answers at ${config.address}; stop it with ${commandHint('down')}`);
  } else if (!config.explicit && runningPidOf(serviceFiles(workDir, 'server')) === undefined) {
    // Often another project's background server: a `down` there stops this batch's server too.
    log(
      `[OK] Using the Temporal server that already answers at ${config.address}, not started here in the ` +
        `background: the batch lives in that server's database, and ${commandHint('down')} here leaves it running`,
    );
  }
  return connect(config);
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
