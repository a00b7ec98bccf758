/**
 * Decides whether a worker may run an experiment's script at all: the workflow input is untrusted
 * (anyone who can start workflows on the task queue writes it), so the batch id, the experiment
 * name and the file must be plain names, and the script must really live inside the experiments
 * directory, which must really live inside a root this worker serves. Nothing here runs anything.
 */
import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';
import { isInside } from '../paths.js';
import { NotRunnableError } from '../errors.js';

/** The directory is fine, but this worker does not serve it: a worker that does may run the script. */
export class NotServedError extends NotRunnableError {}

export interface ScriptCheckInput {
  /** The batch's experiments directory, absolute. */
  experimentsDir: string;
  /** The script's file name inside `experimentsDir`, e.g. `exp125_adaptive_stop_loss.py`. */
  file: string;
  experimentName: string;
  batchId: string;
  /** Absolute directories this worker serves (`--allow-dir`); symlinks are followed. */
  allowedRoots: string[];
}

/**
 * The real absolute path of the script to run (symlinks resolved), or a `NotRunnableError` saying
 * why it may not run. Run the returned path: it is the one that was checked.
 */
export async function checkScript(input: ScriptCheckInput): Promise<string> {
  checkPlainName('batch id', input.batchId);
  checkPlainName('experiment name', input.experimentName);
  checkPlainName('experiment file', input.file);
  const realDir = await checkServedDirectory('experiments directory', input.experimentsDir, input.allowedRoots);

  const scriptPath = path.join(realDir, input.file);
  await lstat(scriptPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotRunnableError(`script not found: ${scriptPath}`);
    throw new NotRunnableError(`cannot read script ${scriptPath}: ${err.code}`);
  });
  const realScript = await realpathOr(scriptPath, (code) =>
    code === 'ENOENT' ? `${scriptPath} is a symlink to a missing file` : `cannot resolve script ${scriptPath}: ${code}`,
  );
  if (!isInside(realDir, realScript)) {
    throw new NotRunnableError(
      `${scriptPath} resolves to ${realScript}, outside the experiments directory ${realDir} ` +
        `(symlinks pointing out of it are refused)`,
    );
  }
  return realScript;
}

/**
 * The real path of `dir` (named `what` in messages), or a `NotRunnableError` when it is relative,
 * missing, or not inside a served root. Also for the work directory, where runs write logs and results.
 */
export async function checkServedDirectory(what: string, dir: string, allowedRoots: string[]): Promise<string> {
  if (!path.isAbsolute(dir)) throw new NotRunnableError(`${what} "${dir}" is not an absolute path`);
  const realRoots = await realAllowedRoots(allowedRoots);
  const realDir = await realpathOr(dir, (code) =>
    code === 'ENOENT' ? `${what} not found: ${dir}` : `cannot read ${what} ${dir}: ${code}`,
  );
  if (!realRoots.some((root) => isInside(root, realDir))) {
    const shown = realDir === dir ? realDir : `${dir} (really ${realDir})`;
    const served = realRoots.length > 0 ? realRoots.join(', ') : 'none';
    throw new NotServedError(
      `${what} ${shown} is outside the directories this worker serves (${served}); ` +
        `start the worker with --allow-dir ${realDir} to serve it`,
    );
  }
  return realDir;
}

/** A name used as one path segment (log and results directories, the script's file name). */
export function checkPlainName(what: string, value: string): void {
  const why =
    value === ''
      ? 'is empty'
      : value.includes('\0')
        ? 'contains a NUL byte'
        : value.includes('/')
          ? 'contains "/"'
          : value.includes('..')
            ? 'contains ".."'
            : value === '.'
              ? 'is "."'
              : undefined;
  if (why) throw new NotRunnableError(`${what} ${JSON.stringify(value)} ${why}; it must be a plain name`);
}

/** Roots that do not exist serve nothing; a relative root is the caller's bug, not the experiment's. */
async function realAllowedRoots(roots: string[]): Promise<string[]> {
  const real: string[] = [];
  for (const root of roots) {
    if (!path.isAbsolute(root)) throw new Error(`allowed root must be an absolute path: ${root}`);
    const resolved = await realpath(root).catch(() => undefined);
    if (resolved !== undefined) real.push(resolved);
  }
  return real;
}

async function realpathOr(target: string, message: (code: string | undefined) => string): Promise<string> {
  try {
    return await realpath(target);
  } catch (err) {
    throw new NotRunnableError(message((err as NodeJS.ErrnoException).code));
  }
}
