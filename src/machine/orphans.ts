/**
 * Orphan runs: runs kept on this machine that their experiment no longer wants. Either its workflow has
 * closed (cancelled or terminated while no worker held the run), or it has moved on to run N + 1 because
 * the server's adoption deadline for run N passed (this machine slept through it, or no worker was here)
 * while N's keeper, which counts its lease in awake time, still runs it. A worker here stops an orphan as
 * soon as it notices (when it starts, then every 10 s), not at the end of its adoption window, and says
 * so: a cancelled experiment never runs on, and two copies of one experiment never run on together. An
 * orphan's directory goes once it has ended. A run whose keeper died is stopped (what it left) and recorded as
 * abandoned whatever its workflow says: nothing can run it on, and its units must be free for the next run.
 * Only the server that started a run may say it is gone (runs-layout.ts): a run of the legacy layout, whose
 * server is unknown, is stopped only when a server knows it and says closed. A run is never stopped on doubt.
 * Nor on the word of another server at the worker's address (a dev server of another project, started once the
 * first one was stopped): each check first asks the server for its namespace id, and when it is not the one of
 * this worker's runs directory, nothing is stopped and the worker is told (it then stops: main.ts).
 */
import { rm } from 'node:fs/promises';
import { defaultPayloadConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import type { RunInput } from '../model/types.js';
import { machineRuns, type MachineRun } from './machine-runs.js';
import { isAddressDigest, serverIdOf, type RunsLayout } from './runs-layout.js';
import { requestStop } from './stop-run.js';
import { recordAbandoned } from './abandoned-run.js';
import { runTreeFor } from '../keeper/run-tree.js';
import type { KillMode, RunSpec } from '../keeper/run-files.js';

const CHECK_EVERY_MS = 10_000;
const WORKFLOW_RUNNING = proto.temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING;
/** Where to look back for the last scheduled run: an experiment's history has a few events per run. */
const EVENTS_LOOKED_AT = 50;

/** What this server says of a run's workflow. */
type WorkflowState = 'running' | 'closed' | 'not-found' | 'unknown';

/** The server of this worker's runs directory, and what to do when another one answers at its address. */
export interface OwnServer {
  /** The namespace id its runs directory is named after (runs-layout.ts). */
  id: string;
  /** Called at each check while another server answers, with its id. */
  onOther(otherId: string): void;
}

export function watchOrphans(
  connection: NativeConnection,
  namespace: string,
  layout: RunsLayout,
  held: ReadonlySet<string>,
  log: (message: string) => void = (message) => console.log(`staged worker: ${message}`),
  ownServer?: OwnServer,
): { stop(): void } {
  /** False when another server answers (its "not found" is not about these runs); no answer: true, as before. */
  const sameServer = async (): Promise<boolean> => {
    if (!ownServer || isAddressDigest(ownServer.id)) return true; // its credentials cannot read the id: as before
    const id = await serverIdOf(connection, namespace).catch(() => undefined);
    if (id === undefined || id === ownServer.id) return true;
    ownServer.onOther(id);
    return false;
  };
  const checkRun = async ({ runKey, files, started, ended, kept }: MachineRun, startedByThisServer: boolean) => {
    if (held.has(runKey) || !started) return;
    if (!ended && !kept) {
      // Whatever its workflow says: nothing runs it on, and the record frees its units for the workflow's next run.
      log(`run ${runKey}: its keeper died without recording an end; what it left is stopped, the run is lost`);
      await stopLeftovers(files, runKey, started.killMode);
      await recordAbandoned(files, 'its keeper died without recording an end');
      ended = true;
    }
    const parsed = /^(.*)\.run-(\d+)$/.exec(runKey);
    const workflowId = decodeURIComponent(parsed ? parsed[1] : runKey);
    const state = await workflowState(connection, namespace, workflowId);
    if (state === 'closed' || (state === 'not-found' && startedByThisServer)) {
      if (ended) {
        await rm(files.dir, { recursive: true, force: true }); // nobody will read its end any more
      } else {
        log(`stopping run ${runKey}: its experiment workflow is ${state === 'closed' ? 'closed' : 'gone'}`);
        await requestStop(files, started.keeperPid, 'cancelled');
      }
      return;
    }
    // Only this server's runs: a legacy-layout run may belong to another server that reuses its workflow id.
    if (state !== 'running' || !kept || !startedByThisServer || !parsed) return;
    const run = Number(parsed[2]);
    const latest = await latestScheduledRun(connection, namespace, workflowId);
    if (latest === undefined || latest <= run) return;
    log(`stopping run ${runKey}: its experiment has moved on to run ${latest} (its adoption deadline passed)`);
    await requestStop(files, started.keeperPid, 'cancelled');
  };
  const check = async () => {
    if (!(await sameServer())) return;
    for await (const run of machineRuns(layout.own)) await checkRun(run, true);
    for await (const run of machineRuns(layout.legacy)) await checkRun(run, false);
  };
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    check()
      .catch(() => undefined)
      .finally(() => (running = false));
  };
  // At once too: a worker restarted on a machine that woke up is when a moved-on run is most likely.
  const first = setTimeout(tick, 0);
  const timer = setInterval(tick, CHECK_EVERY_MS);
  first.unref();
  timer.unref();
  return {
    stop: () => {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}

/** What a run whose keeper died may have left running: stopped as the keeper would have stopped it. */
async function stopLeftovers(files: MachineRun['files'], runKey: string, killMode: KillMode): Promise<void> {
  const spec = await files.readJson<RunSpec>(files.spec);
  const tree = await runTreeFor(spec?.runId ?? runKey, killMode);
  await tree.stop(spec?.killGraceMs ?? 0);
  await tree.release();
}

/** `unknown` whenever the server cannot say. */
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

/** The run number of the last activity the experiment's workflow scheduled; undefined when unknown. */
async function latestScheduledRun(
  connection: NativeConnection,
  namespace: string,
  workflowId: string,
): Promise<number | undefined> {
  try {
    const { history } = await connection.workflowService.getWorkflowExecutionHistoryReverse({
      namespace,
      execution: { workflowId },
      maximumPageSize: EVENTS_LOOKED_AT,
    });
    for (const event of history?.events ?? []) {
      const payload = event.activityTaskScheduledEventAttributes?.input?.payloads?.[0];
      if (!payload || event.activityTaskScheduledEventAttributes?.activityType?.name !== 'runExperiment') continue;
      return defaultPayloadConverter.fromPayload<RunInput>(payload).run;
    }
  } catch {
    // the server cannot say
  }
  return undefined;
}
