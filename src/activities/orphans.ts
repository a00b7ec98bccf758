/**
 * Runs left on this machine whose experiment workflow has closed (cancelled or terminated while no
 * worker held them) are stopped as soon as a worker here notices, not at the end of their adoption
 * window: a cancelled experiment never runs on when its worker comes back. Their directories go
 * once they have ended.
 */
import { rm } from 'node:fs/promises';
import proto from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import { machineRuns } from './machine-runs.js';
import { requestStop } from './stop-run.js';

const CHECK_EVERY_MS = 10_000;
const WORKFLOW_RUNNING = proto.temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;

export interface OrphanWatch {
  stop(): void;
}

export function watchOrphans(
  connection: NativeConnection,
  namespace: string,
  runsDir: string,
  held: ReadonlySet<string>,
  log: (message: string) => void,
): OrphanWatch {
  const check = async () => {
    for await (const { runKey, files, started, ended, kept } of machineRuns(runsDir)) {
      if (held.has(runKey) || !started || (!ended && !kept)) continue;
      const workflowId = decodeURIComponent(runKey.replace(/\.run-\d+$/, ''));
      if (await workflowIsRunning(connection, namespace, workflowId)) continue;
      if (ended) {
        await rm(files.dir, { recursive: true, force: true }); // nobody will read its end any more
      } else {
        log(`stopping run ${runKey}: its experiment workflow is closed`);
        await requestStop(files, started.keeperPid, 'cancelled');
      }
    }
  };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    check()
      .catch(() => undefined)
      .finally(() => (running = false));
  }, CHECK_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** True while the workflow runs, and whenever the server cannot say (a run is never stopped on doubt). */
async function workflowIsRunning(
  connection: NativeConnection,
  namespace: string,
  workflowId: string,
): Promise<boolean> {
  try {
    const { workflowExecutionInfo } = await connection.workflowService.describeWorkflowExecution({
      namespace,
      execution: { workflowId },
    });
    return workflowExecutionInfo?.status === WORKFLOW_RUNNING;
  } catch (err) {
    return (err as { code?: number }).code !== 5; // NOT_FOUND: the workflow is gone
  }
}
