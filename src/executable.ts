/** Finding programs as the kernel would: a path that may be executed, or a name looked up on PATH. */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';

export async function isExecutable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** `file` itself when it holds a `/`, else the first executable of that name on PATH. */
export async function findExecutable(file: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const candidates = file.includes('/')
    ? [file]
    : (env.PATH ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, file));
  for (const candidate of candidates) {
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}
