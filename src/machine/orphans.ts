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
import type { NativeConnection } from '@temporalio/worker';
import { machineRuns, type MachineRun } from './machine-runs.js';
import { isAddressDigest, serverIdOf, type RunsLayout } from './runs-layout.js';
import { requestStop } from './stop-run.js';
import { stopLeftRun } from './stop-left-run.js';
import type { HeldRuns } from './held-runs.js';
import { releaseRunCgroup } from '../keeper/kill-mode.js';
import { parseRunKey } from '../keeper/run-files.js';
import { runNameOf } from './runs-found.js';
import { latestScheduledRun, listedWorkflowStates, workflowState } from './workflow-states.js';

const CHECK_EVERY_MS = 10_000;

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
  held: Pick<HeldRuns, 'has'>,
  log: (message: string) => void = (message) => console.log(`staged worker: ${message}`),
  ownServer?: OwnServer,
  /** Told of each run whose keeper died, once what it left is stopped (the worker's line about lost runs). */
  onLost: (runKey: string) => void = (runKey) =>
    log(`${runNameOf(runKey)} lost: its keeper died without recording an end; what it left is stopped`),
): { stop(): void } {
  /** Runs whose leftovers --stop-left could not stop (no readable spec, say), already said. */
  const unstoppable = new Set<string>();
  /** False when another server answers (its "not found" is not about these runs); no answer: true, as before. */
  const sameServer = async (): Promise<boolean> => {
    if (!ownServer || isAddressDigest(ownServer.id)) return true; // its credentials cannot read the id: as before
    const id = await serverIdOf(connection, namespace).catch(() => undefined);
    if (id === undefined || id === ownServer.id) return true;
    ownServer.onOther(id);
    return false;
  };
  /** `listed`: what visibility said of the workflows of runs that had ended when the check began. */
  const checkRun = async (
    { runKey, files, started, ended, kept }: MachineRun,
    startedByThisServer: boolean,
    listed: ReadonlyMap<string, 'running' | 'closed'>,
  ) => {
    if (held.has(runKey) || !started) return;
    const endedBefore = ended;
    if (!ended && !kept) {
      // Whatever its workflow says: nothing runs it on, and the record frees its units for the workflow's next run.
      const stopped = await stopLeftRun(files, started.killMode).catch((err: Error) => {
        // Said once; the runs after it are checked all the same (before, its failure ended every check there).
        if (!unstoppable.has(runKey)) log(err.message);
        unstoppable.add(runKey);
        return undefined;
      });
      // Undefined while its guard still stops it (the next check finds the end the guard records), or once it is gone.
      if (!stopped) return;
      onLost(runKey);
      ended = true;
    }
    const { workflowId, run } = parseRunKey(runKey);
    const state = (endedBefore && listed.get(workflowId)) || (await workflowState(connection, namespace, workflowId));
    if (state === 'closed' || (state === 'not-found' && startedByThisServer)) {
      if (ended) {
        // Nobody will read its end any more; kept while a process that outlived its stop is in its cgroup.
        if (await releaseRunCgroup(await files.runId())) await rm(files.dir, { recursive: true, force: true });
      } else {
        log(`stopping ${runNameOf(runKey)}: its experiment workflow is ${state === 'closed' ? 'closed' : 'gone'}`);
        await requestStop(files, started.keeperPid, 'cancelled');
      }
      return;
    }
    // Only this server's runs: a legacy-layout run may belong to another server that reuses its workflow id.
    if (state !== 'running' || !kept || !startedByThisServer || run === undefined) return;
    const latest = await latestScheduledRun(connection, namespace, workflowId);
    if (latest === undefined || latest <= run) return;
    log(`stopping ${runNameOf(runKey)}: its experiment has moved on to run ${latest} (its adoption deadline passed)`);
    await requestStop(files, started.keeperPid, 'cancelled');
  };
  const check = async () => {
    if (!(await sameServer())) return;
    const own: MachineRun[] = [];
    for await (const run of machineRuns(layout.own)) own.push(run);
    // Ended runs are most of them: one query for their workflows instead of a describe each.
    const endedRuns = own.filter((run) => run.ended && run.started && !held.has(run.runKey));
    const listed = await listedWorkflowStates(
      connection,
      namespace,
      endedRuns.map((run) => parseRunKey(run.runKey).workflowId),
    );
    for (const run of own) await checkRun(run, true, listed);
    for await (const run of machineRuns(layout.legacy)) await checkRun(run, false, new Map());
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
