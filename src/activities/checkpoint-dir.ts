/**
 * Where an experiment keeps its checkpoint: one directory for all its runs (retries, requeues, adoption) and for
 * the batches that `--rerun-failed` it, `results/<checkpoint batch>/<experiment>/checkpoint/`. The checkpoint batch
 * is the batch itself, or the one a rerun picks up from (the first of a chain of reruns).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { experimentResultsDir } from '../paths.js';
import type { BatchSettings } from '../model/types.js';
import { checkPlainName } from '../machine/script-check.js';
import { PYTHON_DIR } from '../quota/run-environment.js';
import { warningOf } from '../keeper/warn-signal.js';

/** The variable a run finds its checkpoint directory in. */
export const CHECKPOINT_DIR_VARIABLE = 'STAGED_CHECKPOINT_DIR';

export function checkpointDirOf(
  settings: Pick<BatchSettings, 'workDir' | 'checkpointBatch'>,
  batchId: string,
  experimentName: string,
): string {
  const owner = settings.checkpointBatch ?? batchId;
  return path.join(experimentResultsDir(settings.workDir, owner, experimentName), 'checkpoint');
}

/** The variable naming the warning a run gets before its --timeout (`--signal-before`); absent when none comes. */
export const WARN_SIGNAL_VARIABLE = 'STAGED_WARN_SIGNAL';

/**
 * Creates the run's checkpoint directory (before the run starts) and names it, with the warning signal if one
 * comes; puts staged's Python helpers (`staged_checkpoint`) on PYTHONPATH.
 */
export async function checkpointEnvironment(
  parent: NodeJS.ProcessEnv,
  settings: Pick<BatchSettings, 'workDir' | 'checkpointBatch' | 'timeoutMs' | 'signalBeforeMs' | 'warnSignal'>,
  batchId: string,
  experimentName: string,
): Promise<Record<string, string>> {
  // It names a folder, and the workflow input is untrusted.
  if (settings.checkpointBatch !== undefined) checkPlainName('checkpoint batch', settings.checkpointBatch);
  const dir = checkpointDirOf(settings, batchId, experimentName);
  await mkdir(dir, { recursive: true });
  const pythonPath = parent.PYTHONPATH ? `${PYTHON_DIR}${path.delimiter}${parent.PYTHONPATH}` : PYTHON_DIR;
  const { warning } = warningOf(settings);
  return {
    [CHECKPOINT_DIR_VARIABLE]: dir,
    ...(warning ? { [WARN_SIGNAL_VARIABLE]: warning.signal } : {}),
    PYTHONPATH: pythonPath,
  };
}
