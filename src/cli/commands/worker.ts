/** `worker`: the worker program (src/worker.ts) in the foreground, with the same heap cap as `npm run worker`. */
import { workerCommand, workerEnvironment } from '../worker-command.js';
import type { OptionsOf } from '../command-table.js';
import { inForeground } from '../foreground.js';
import { userDirectory } from '../invocation.js';

/** Options were checked here already; the worker reads them again from the same table. */
export async function run(_args: string[], _options: OptionsOf<'worker'>, rawArgs: string[]): Promise<number> {
  return inForeground(process.execPath, workerCommand(rawArgs), userDirectory(), undefined, {
    ipc: true,
    env: workerEnvironment(),
  });
}
