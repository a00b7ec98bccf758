/** Decides how to run an experiment file, or says why it can never run. */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { NotRunnableError } from '../errors.js';
import { findExecutable } from '../executable.js';
import { pythonSetting } from '../settings.js';

export interface ExperimentCommand {
  file: string;
  args: string[];
}

/** `isPython` from the experiment's own file name: a symlink `exp.py` may point to a file without the extension. */
export async function resolveCommand(
  scriptPath: string,
  env: NodeJS.ProcessEnv = process.env,
  isPython = scriptPath.endsWith('.py'),
): Promise<ExperimentCommand> {
  let info;
  try {
    info = await stat(scriptPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotRunnableError(`script not found: ${scriptPath}`);
    throw new NotRunnableError(`cannot read script ${scriptPath}: ${code}`);
  }
  if (info.isDirectory()) throw new NotRunnableError(`${scriptPath} is a directory, not a script`);
  if (!info.isFile()) throw new NotRunnableError(`${scriptPath} is not a regular file`);
  if (isPython) {
    await access(scriptPath, constants.R_OK).catch(() => {
      throw new NotRunnableError(`script is not readable: ${scriptPath}`);
    });
    const interpreter = pythonSetting(env);
    if (!(await findExecutable(interpreter, env)))
      throw new NotRunnableError(`cannot start ${interpreter}: no such executable (set STAGED_PYTHON)`);
    return { file: interpreter, args: [scriptPath] };
  }
  await access(scriptPath, constants.X_OK).catch(() => {
    throw new NotRunnableError(`script is not executable: ${scriptPath} (chmod +x it, or use a .py file)`);
  });
  return { file: scriptPath, args: [] };
}
