/**
 * The staged command line as a function: argv in, exit code out, its output on stdout and stderr. One line per
 * command here, its file in commands/, its options in options.ts. The `staged` binary (src/client.ts) runs it and
 * exits with its code; tests call it in-process.
 */
import { Command, CommanderError } from 'commander';
import { COMMANDS, type CommandName, type OptionsOf } from './command-table.js';
import { buildCommand, optionsOf } from './program.js';
import { reportError } from './report-error.js';
import { EXIT } from '../errors.js';

interface CommandModule {
  run(args: string[], options: OptionsOf<CommandName>, rawArgs: string[]): Promise<number>;
}

// Each command loads its own modules when it runs: `--help` and `status` do not pay for `submit`'s.
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

function buildProgram(finish: (code: number) => void): Command {
  const program = new Command('staged')
    .description(
      'Run queues of long experiment scripts on Temporal: priority order, bounded concurrency, durable retries.',
    )
    .showHelpAfterError('(add --help to the command to see its options)')
    .exitOverride();
  for (const name of Object.keys(COMMANDS) as CommandName[]) {
    const command = buildCommand(name, program);
    command.action(async () => {
      const options = optionsOf(name, command);
      const rawArgs = program.args.slice(1);
      const module = (await COMMAND_FILES[name]()) as CommandModule;
      finish(await module.run(command.args, options, rawArgs));
    });
  }
  return program;
}

/** The exit code of a command that threw, once its error is printed. */
export function exitCodeOfFailure(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    // commander already printed its message on stderr
    if (err.exitCode !== 0 && json)
      console.log(JSON.stringify({ error: { message: err.message, exitCode: EXIT.usage } }));
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  return reportError(err, json);
}

/** Runs the command `argv` names (process.argv's shape: node, the script, then the arguments). */
export async function runCli(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await buildProgram((finished) => (code = finished)).parseAsync(argv);
    return code;
  } catch (err) {
    return exitCodeOfFailure(err, argv.includes('--json'));
  }
}
