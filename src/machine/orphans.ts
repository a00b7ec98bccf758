/**
 * Runs left on this machine whose experiment workflow has closed (cancelled or terminated while no
 * worker held them) are stopped as soon as a worker here notices, not at the end of their adoption
 * window: a cancelled experiment never runs on when its worker comes back. Their directories go
 * once they have ended. Only the server that started a run may say it is gone (runs-layout.ts): a
 * run of the old layout, whose server is unknown, is stopped only when a server knows it and says closed.
 */
import { rm } from 'node:fs/promises';
import proto from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import { machineRuns } from './machine-runs.js';
import type { RunsLayout } from './runs-layout.js';
import { requestStop } from './stop-run.js';

const CHECK_EVERY_MS = 10_000;
const WORKFLOW_RUNNING = proto.temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;

/** What this server says of a run's workflow. */
type WorkflowState = 'running' | 'closed' | 'not-found' | 'unknown';

export interface OrphanWatch {
  stop(): void;
}

export function watchOrphans(
  connection: NativeConnection,
  namespace: string,
  layout: RunsLayout,
  held: ReadonlySet<string>,
  log: (message: string) => void,
): OrphanWatch {
  const checkDir = async (runsDir: string, startedByThisServer: boolean) => {
    for await (const { runKey, files, started, ended, kept } of machineRuns(runsDir)) {
      if (held.has(runKey) || !started || (!ended && !kept)) continue;
      const workflowId = decodeURIComponent(runKey.replace(/\.run-\d+$/, ''));
      const state = await workflowState(connection, namespace, workflowId);
      const gone = state === 'closed' || (state === 'not-found' && startedByThisServer);
      if (!gone) continue;
      if (ended) {
        await rm(files.dir, { recursive: true, force: true }); // nobody will read its end any more
      } else {
        log(`stopping run ${runKey}: its experiment workflow is ${state === 'closed' ? 'closed' : 'gone'}`);
        await requestStop(files, started.keeperPid, 'cancelled');
      }
    }
  };
  const check = async () => {
    await checkDir(layout.own, true);
    await checkDir(layout.legacy, false);
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

/** `unknown` whenever the server cannot say (a run is never stopped on doubt). */
async function workflowState(
  connection: NativeConnection,
  namespace: string,
  workflowId: string,
): Promise<WorkflowState> {
  try {
    const { workflowExecutionInfo } = await connection.workflowService.describeWorkflowExecution({
      namespace,
      execution: { workflowId },
    });
    return workflowExecutionInfo?.status === WORKFLOW_RUNNING ? 'running' : 'closed';
  } catch (err) {
    return (err as { code?: number }).code === 5 ? 'not-found' : 'unknown';
  }
}
