/**
 * The staged command line as a function: argv in, exit code out, its output on stdout and stderr. The commands it can
 * run are the files it is given (main.ts gives all of them; status-main.ts, the status bundle's entry, only status's).
 */
import { Command, CommanderError } from 'commander';
import { COMMANDS, type CommandName, type OptionsOf } from './command-table.js';
import { buildCommand, optionsOf } from './program.js';
import { reportError } from './report-error.js';
import { EXIT } from '../errors.js';

interface CommandModule {
  run(args: string[], options: OptionsOf<CommandName>, rawArgs: string[]): Promise<number>;
}

/** Loads a command's file when it runs: `--help` and `status` do not pay for `submit`'s modules. */
export type CommandFiles = Partial<Record<CommandName, () => Promise<unknown>>>;

function buildProgram(files: CommandFiles, finish: (code: number) => void): Command {
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
      const load = files[name];
      if (!load) throw new Error(`this entry of staged does not run "${name}"`);
      const module = (await load()) as CommandModule;
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
export async function runCommands(argv: string[], files: CommandFiles): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await buildProgram(files, (finished) => (code = finished)).parseAsync(argv);
    return code;
  } catch (err) {
    return exitCodeOfFailure(err, argv.includes('--json'));
  }
}
