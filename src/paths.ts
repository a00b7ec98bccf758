/** Where staged keeps its files, relative to the directory `submit` ran in. */
import path from 'node:path';

const STAGED_DIR = '.staged';

export function stagedHome(workDir: string): string {
  return path.join(workDir, STAGED_DIR);
}

export function experimentLogDir(workDir: string, batchId: string, experimentName: string): string {
  return path.join(stagedHome(workDir), 'logs', batchId, experimentName);
}

export function attemptLogFile(workDir: string, batchId: string, experimentName: string, run: number): string {
  return path.join(experimentLogDir(workDir, batchId, experimentName), `attempt-${run}.log`);
}

export function experimentResultsDir(workDir: string, batchId: string, experimentName: string): string {
  return path.join(workDir, 'results', batchId, experimentName);
}

export function batchResultsDir(workDir: string, batchId: string): string {
  return path.join(workDir, 'results', batchId);
}

export function batchSummaryFile(workDir: string, batchId: string): string {
  return path.join(batchResultsDir(workDir, batchId), 'summary.json');
}

/** Written by `submit` when it reserves the batch id: what the batch was started with. */
export function batchRecordFile(workDir: string, batchId: string): string {
  return path.join(batchResultsDir(workDir, batchId), 'batch.json');
}

/** True when `child` is `parent` or below it, comparing whole path segments (`/a/bc` is not in `/a/b`). */
export function isInside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child);
  if (relative === '') return true;
  return !path.isAbsolute(relative) && relative.split(path.sep)[0] !== '..';
}
