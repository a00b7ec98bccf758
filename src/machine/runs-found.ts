/**
 * The runs alive on this machine when a worker starts, by who has them: left by an earlier worker (gone, or let go of
 * them), which a worker of the machine adopts as their experiments ask, or held by another live worker of it.
 */
import { parseRunKey } from '../keeper/run-files.js';
import { machineRuns, type RunsDirs } from './machine-runs.js';
import { otherLiveHolderOf } from './run-holder.js';

export interface RunsFound {
  /** Runs left by an earlier worker, by name (`batch/exp1 (run 1)`). */
  left: string[];
  /** Runs another live worker of the machine holds, by its pid. */
  heldByOthers: Map<number, string[]>;
}

/** `batch-…/exp1 (run 1)`: a run key (machine queue's run directory name) as the user knows the run. */
export function runNameOf(runKey: string): string {
  const { workflowId, run } = parseRunKey(runKey);
  return run === undefined ? workflowId : `${workflowId} (run ${run})`;
}

/** The runs whose keeper still runs them in these directories, by who has them. */
export async function runsFoundHere(runsDirs: RunsDirs): Promise<RunsFound> {
  const found: RunsFound = { left: [], heldByOthers: new Map() };
  for await (const run of machineRuns(runsDirs)) {
    if (!run.kept) continue;
    const holder = await otherLiveHolderOf(run.files);
    if (holder === undefined) found.left.push(runNameOf(run.runKey));
    else found.heldByOthers.set(holder, [...(found.heldByOthers.get(holder) ?? []), runNameOf(run.runKey)]);
  }
  return found;
}
