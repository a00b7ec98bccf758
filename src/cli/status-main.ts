/**
 * The entry of the status bundle (status-bundle-build.ts): the command line with only `status` to run, so that the
 * bundle holds status's modules and no other command's.
 */
import { runCommands } from './run-commands.js';

export { exitCodeOfFailure } from './run-commands.js';

export const runStatusCli = (argv: string[]): Promise<number> =>
  runCommands(argv, { status: () => import('./commands/status.js') });
