/**
 * The staged command line: every command, one line each here, its file in commands/, its options in options.ts.
 * The `staged` binary (src/client.ts) runs it and exits with its code; tests call it in-process.
 */
import type { CommandName } from './command-table.js';
import { runCommands } from './run-commands.js';

export { exitCodeOfFailure } from './run-commands.js';

const COMMAND_FILES: Record<CommandName, () => Promise<unknown>> = {
  submit: () => import('./commands/submit.js'),
  status: () => import('./commands/status.js'),
  watch: () => import('./commands/watch.js'),
  cancel: () => import('./commands/cancel.js'),
  add: () => import('./commands/add.js'),
  change: () => import('./commands/change.js'),
  pause: () => import('./commands/pause.js'),
  resume: () => import('./commands/resume.js'),
  logs: () => import('./commands/logs.js'),
  worker: () => import('./commands/worker.js'),
  server: () => import('./commands/server.js'),
  down: () => import('./commands/down.js'),
  cluster: () => import('./commands/cluster.js'),
  quota: () => import('./commands/quota.js'),
  'temporal-cli': () => import('./commands/temporal-cli.js'),
};

/** Runs the command `argv` names (process.argv's shape: node, the script, then the arguments). */
export const runCli = (argv: string[]): Promise<number> => runCommands(argv, COMMAND_FILES);
