/** `down`: stops the dev server and worker that `submit` started in the background. */
import { EXIT } from '../../errors.js';
import { stopBackground } from '../../server/background.js';
import type { OptionsOf } from '../command-table.js';
import { resolveWorkDir } from '../invocation.js';

export async function run(_args: string[], options: OptionsOf<'down'>): Promise<number> {
  const workDir = resolveWorkDir(options.workDir);
  const worker = await stopBackground(workDir, 'worker');
  const server = await stopBackground(workDir, 'server');
  const stopped = [worker && 'the background worker', server && 'the dev server'].filter(Boolean);
  console.log(
    stopped.length ? `[OK] Stopped ${stopped.join(' and ')}.` : `Nothing staged started is running in ${workDir}.`,
  );
  return EXIT.ok;
}
