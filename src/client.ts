#!/usr/bin/env node
/** The staged command line: one line per command here, its file in cli/commands/, its options in cli/options.ts. */
import { Command, CommanderError } from 'commander';
import { COMMANDS, type CommandName, type OptionsOf } from './cli/command-table.js';
import { buildCommand, optionsOf } from './cli/program.js';
import { reportError } from './cli/report-error.js';
import { EXIT } from './errors.js';

interface CommandModule {
  run(args: string[], options: OptionsOf<CommandName>, rawArgs: string[]): Promise<number>;
}

// Each command loads its own modules when it runs: `--help` and `status` do not pay for `submit`'s.
const COMMAND_FILES: Record<CommandName, () => Promise<unknown>> = {
  submit: () => import('./cli/commands/submit.js'),
  status: () => import('./cli/commands/status.js'),
  watch: () => import('./cli/commands/watch.js'),
  cancel: () => import('./cli/commands/cancel.js'),
  add: () => import('./cli/commands/add.js'),
  change: () => import('./cli/commands/change.js'),
  pause: () => import('./cli/commands/pause.js'),
  resume: () => import('./cli/commands/resume.js'),
  logs: () => import('./cli/commands/logs.js'),
  worker: () => import('./cli/commands/worker.js'),
  server: () => import('./cli/commands/server.js'),
  down: () => import('./cli/commands/down.js'),
  cluster: () => import('./cli/commands/cluster.js'),
  quota: () => import('./cli/commands/quota.js'),
  'temporal-cli': () => import('./cli/commands/temporal-cli.js'),
};

function buildProgram(finish: (code: number) => void): Command {
  const program = new Command('staged')
    .description(
      'Run queues of long experiment scripts on Temporal: priority order, bounded concurrency, durable retries.',
    )
    .showHelpAfterError()
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

function fail(err: unknown): never {
  const json = process.argv.includes('--json');
  if (err instanceof CommanderError) {
    // commander already printed its message on stderr
    if (err.exitCode !== 0 && json)
      console.log(JSON.stringify({ error: { message: err.message, exitCode: EXIT.usage } }));
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  process.exit(reportError(err, json));
}

/** process.exit drops what a pipe has not taken yet (a long `status --json`): exit once stdout has flushed. */
function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

// A reader that stopped reading (`watch … | head`) ends the command quietly, as it ends `yes | head`.
process.stdout.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? process.exit(EXIT.ok) : fail(err)));

buildProgram(exitWhenFlushed).parseAsync(process.argv).catch(fail);
