/** What `submit` records of the code it submits (git state, always) and copies (`--snapshot`). */
import path from 'node:path';
import { readCodeState } from '../batch-client/code-state.js';
import {
  copySnapshot,
  planSnapshot,
  refuseSnapshotNameClash,
  snapshotRequest,
  SNAPSHOT_DIR_NAME,
  formatSize,
  type SnapshotPlan,
} from '../experiments/code-snapshot.js';
import type { CodeState } from '../model/code.js';
import type { BatchSettings } from '../model/types.js';
import { batchResultsDir } from '../paths.js';

/** The snapshot to take, checked before anything starts (a path missing, or too big: exit 2); undefined: none. */
export async function snapshotPlanOf(
  options: { snapshot: boolean; snapshotLimit?: number },
  config: { snapshot?: string[]; snapshotLimit?: number },
  settings: BatchSettings,
  experimentNames: readonly string[],
): Promise<SnapshotPlan | undefined> {
  const request = snapshotRequest(options.snapshot, options.snapshotLimit, config);
  if (!request) return undefined;
  refuseSnapshotNameClash(experimentNames);
  return planSnapshot(settings.workDir, settings.experimentsDir, request);
}

/** The git state now and, with a plan, where its copy goes. */
export async function codeAtSubmit(
  workDir: string,
  batchId: string,
  plan: SnapshotPlan | undefined,
): Promise<CodeState> {
  const git = await readCodeState(workDir);
  return plan ? { ...git, snapshotDir: path.join(batchResultsDir(workDir, batchId), SNAPSHOT_DIR_NAME) } : git;
}

/** Copies the plan once the batch's results folder is reserved; nothing to do without a plan. */
export function takeSnapshot(plan: SnapshotPlan | undefined, code: CodeState): (() => Promise<void>) | undefined {
  return plan && code.snapshotDir ? () => copySnapshot(plan, code.snapshotDir!) : undefined;
}

/** `[SNAPSHOT] experiments/, src/ copied to results/<id>/code/ (12 files, 48.0K)`: what runs from the copy. */
export function snapshotNote(plan: SnapshotPlan, batchId: string): string {
  const files = plan.entries.filter((entry) => entry.kind !== 'dir').length;
  const roots = plan.roots.map((root) => (root === '.' ? './' : `${root}/`)).join(', ');
  const size = formatSize(plan.bytes);
  return `[SNAPSHOT] ${roots} copied to results/${batchId}/${SNAPSHOT_DIR_NAME}/ (${files} files, ${size})`;
}
