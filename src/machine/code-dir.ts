/**
 * Which code a run uses: a batch submitted with `--snapshot` runs every attempt from its copy in
 * `results/<id>/code/`; the process still runs in the work dir, so data paths and results/ are unchanged.
 */
import path from 'node:path';
import { NotRunnableError } from '../errors.js';
import type { BatchSettings } from '../model/types.js';
import { isInside } from '../paths.js';
import { checkServedDirectory } from './script-check.js';

/** Where a run finds its script: the snapshot's copy of the experiments directory, else the directory itself. */
export function scriptsDirOf(settings: BatchSettings): string {
  const snapshot = settings.code?.snapshotDir;
  if (!snapshot) return settings.experimentsDir;
  // The workflow input is untrusted: the copy must stay below the snapshot (the served-roots check follows).
  const relative = path.relative(settings.workDir, settings.experimentsDir);
  const dir = path.join(snapshot, relative);
  if (!path.isAbsolute(snapshot) || !isInside(snapshot, dir)) {
    throw new NotRunnableError(`the experiments directory is not inside the snapshot ${snapshot}`);
  }
  return dir;
}

/**
 * The scripts directory a run uses, its snapshot (the root on `PYTHONPATH`) checked to be served like the
 * scripts: imports must not come from a directory this worker does not serve.
 */
export async function checkedScriptsDir(settings: BatchSettings, allowedRoots: string[]): Promise<string> {
  const dir = scriptsDirOf(settings);
  const snapshot = settings.code?.snapshotDir;
  if (snapshot) await checkServedDirectory('code snapshot', snapshot, allowedRoots);
  return dir;
}

/**
 * `STAGED_CODE_DIR` (the snapshot, or the work dir without one) and, with a snapshot, `PYTHONPATH` with the
 * snapshot first: a script importing the copied `src/` package gets the copy, not the edited original.
 */
export function codeEnvironment(parent: NodeJS.ProcessEnv, settings: BatchSettings): Record<string, string> {
  const snapshot = settings.code?.snapshotDir;
  if (!snapshot) return { STAGED_CODE_DIR: settings.workDir };
  const pythonPath = [snapshot, parent.PYTHONPATH].filter(Boolean).join(path.delimiter);
  return { STAGED_CODE_DIR: snapshot, PYTHONPATH: pythonPath };
}
