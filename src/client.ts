#!/usr/bin/env node
/** The staged command line: submit, status, watch, logs, cancel, worker, server, down. */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from './shared/duration.js';
import { EXIT } from './cli/errors.js';
import { SUBMIT_DEFAULTS } from './cli/submit-defaults.js';
import { findTemporalCli } from './server/temporal-cli.js';
import { resolveWorkDir } from './cli/invocation.js';
import { reportError } from './cli/report-error.js';

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65535) throw new InvalidArgumentError('must be a port number');
  return parsed;
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be an integer ≥ 1');
  return parsed;
}

function duration(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

const WORK_DIR_HELP = 'where scripts run and .staged/ and results/ live (default: the directory you ran the command in)';
const workDirOption = () => new Option('--work-dir <dir>', WORK_DIR_HELP);

export function buildProgram(finish: (code: number) => void): Command {
  const program = new Command('staged')
    .description('Run queues of long experiment scripts on Temporal: priority order, bounded concurrency, durable retries.')
    .showHelpAfterError()
    .exitOverride();
  const run = (action: () => Promise<number>) => action().then(finish);
  // Each command loads its own modules: `--help` and `status` do not pay for `submit`'s.
  const inspect = () => import('./cli/inspect.js');
  const server = () => import('./cli/server.js');

  program
    .command('submit')
    .description('Run the selected experiments as one batch, highest priority first, at most --max-concurrent at a time.')
    .option('--dir <dir>', 'directory of experiment scripts, relative to the work dir (env STAGED_EXPERIMENTS_DIR)', process.env.STAGED_EXPERIMENTS_DIR || SUBMIT_DEFAULTS.dir)
    .addOption(workDirOption())
    .option('--priority <levels>', '"high" runs high and above (critical+high); a list like "medium,low" runs exactly those')
    .option('--experiments <ids>', 'comma-separated experiment ids (exp125) or names (exp125_adaptive_stop_loss)')
    .option('--max-concurrent <n>', 'experiments of this batch running at once', SUBMIT_DEFAULTS.maxConcurrent)
    .option('--max-retries <n>', 'retries after a failed attempt (non-zero exit or signal; timeouts with --retry-timeouts)', SUBMIT_DEFAULTS.maxRetries)
    .option('--retry-delay <duration>', 'delay before the first retry; doubles for each further one', SUBMIT_DEFAULTS.retryDelay)
    .option('--timeout <duration>', 'longest one attempt may run before it is killed (default: no limit)')
    .option('--retry-timeouts', 'retry an attempt that hit --timeout (default: it fails; it would most likely time out again)')
    .option('--heartbeat-timeout <duration>', 'how soon a run whose worker stopped answering is declared lost (at least 2s)', SUBMIT_DEFAULTS.heartbeatTimeout)
    .option('--kill-grace <duration>', 'time between SIGTERM and SIGKILL when stopping a process tree (below --heartbeat-timeout)', SUBMIT_DEFAULTS.killGrace)
    .option('--status-interval <duration>', 'how often the [STATUS] line is printed', SUBMIT_DEFAULTS.statusInterval)
    .option('--batch-id <id>', 'id of the batch (default: batch-<date>-<time>-<random>); refused if results/<id>/ exists')
    .option('--rerun-failed <batchId>', 'run only the experiments of that batch that did not complete')
    .option('--skip-completed', 'leave out experiments of this directory that completed in an earlier batch')
    .option('--detach', 'start the batch and return without waiting')
    .option('--dry-run', 'print the queue in start order with each priority and its reason; start nothing')
    .option('--json', 'print only JSON on stdout: the final summary (or the dry-run queue, or {"error": …})')
    .addOption(new Option('--history-limit <events>', 'history length at which the batch continues as new').hideHelp())
    .addHelpText(
      'after',
      '\nExit codes: 0 all completed, 1 some failed, 2 bad input (nothing started), 130 detached with Ctrl-C.\n' +
        'Connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE or a temporal.toml profile (TEMPORAL_PROFILE); with none\n' +
        'and nothing on localhost:7233, staged starts a dev server and a worker in the background.',
    )
    .action((flags) => run(async () => (await import('./cli/submit.js')).submit(flags, resolveWorkDir(flags.workDir))));

  program
    .command('status')
    .description('Show a batch: counts, ETA, and each running experiment with its attempt, elapsed time, progress and ETA (without an id: the recent batches).')
    .argument('[batchId]')
    .addOption(workDirOption())
    .option('--json', 'print JSON')
    .action((batchId: string | undefined, flags: { json?: boolean; workDir?: string }) =>
      run(async () => (await inspect()).status(batchId, Boolean(flags.json), resolveWorkDir(flags.workDir))),
    );

  program
    .command('watch')
    .description('Follow a running batch until it ends: events, and per experiment its progress and ETA, redrawn in place on a terminal (Ctrl-C detaches; the batch runs on). Exit 0 when all completed, 1 otherwise.')
    .argument('<batchId>')
    .addOption(workDirOption())
    .option('--status-interval <duration>', 'how often the [STATUS] line is printed', duration, parseDuration(SUBMIT_DEFAULTS.statusInterval))
    .action((batchId: string, flags: { statusInterval: number; workDir?: string }) =>
      run(async () => (await inspect()).watch(batchId, flags.statusInterval, resolveWorkDir(flags.workDir))),
    );

  program
    .command('cancel')
    .description('Cancel a batch: queued experiments never start, running process trees are killed.')
    .argument('<batchId>')
    .option('--experiment <id>', 'cancel only this experiment (name, or an id that names one experiment) of the batch')
    .action((batchId: string, flags: { experiment?: string }) => run(async () => (await inspect()).cancel(batchId, flags.experiment)));

  program
    .command('logs')
    .description("Print an experiment's output (its latest attempt unless --attempt), or follow it while it runs.")
    .argument('<batchId>')
    .argument('<experiment>', 'experiment name, or an id that names one experiment (exp125)')
    .addOption(workDirOption())
    .option('--attempt <n>', 'which attempt (run) to show, 1-based', positiveInteger)
    .option('-f, --follow', 'keep printing as the output grows, on to later attempts, until the experiment ends')
    .action((batchId: string, experiment: string, flags: { attempt?: number; follow?: boolean; workDir?: string }) =>
      run(async () => (await inspect()).showLogs(batchId, experiment, flags, resolveWorkDir(flags.workDir))),
    );

  program
    .command('worker')
    .description('Run a worker on this machine until Ctrl-C (options: staged worker --help).')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[options...]')
    .action((args: string[]) => run(async () => (await server()).runWorker(args)));

  program
    .command('server')
    .description("Run Temporal's dev server in the foreground (SQLite file, Web UI, task-queue priority on, 30-day retention).")
    .addOption(workDirOption())
    .option('--port <n>', 'gRPC port', port, 7233)
    .option('--ui-port <n>', 'Web UI port', port, 8233)
    .option('--db-file <path>', 'SQLite file that keeps everything across restarts (default: <work dir>/.staged/temporal.db)')
    .option('--retention <duration>', 'how long a finished batch stays in Temporal (env STAGED_RETENTION)', process.env.STAGED_RETENTION)
    .action((flags: { port: number; uiPort: number; dbFile?: string; retention?: string; workDir?: string }) =>
      run(async () => (await server()).runServer({ ...flags, workDir: resolveWorkDir(flags.workDir) })),
    );

  program
    .command('down')
    .description('Stop the dev server and worker that submit started in the background.')
    .addOption(workDirOption())
    .action((flags: { workDir?: string }) => run(async () => (await server()).down(resolveWorkDir(flags.workDir))));

  program
    .command('temporal-cli')
    .description('Print the path of the Temporal CLI, building it with Go if it is missing.')
    .action(() => run(async () => (console.log(await findTemporalCli()), EXIT.ok)));

  return program;
}

function fail(err: unknown): never {
  const json = process.argv.includes('--json');
  if (err instanceof CommanderError) {
    // commander already printed its message on stderr
    if (err.exitCode !== 0 && json) console.log(JSON.stringify({ error: { message: err.message, exitCode: EXIT.usage } }));
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  process.exit(reportError(err, json));
}

buildProgram((code) => process.exit(code))
  .parseAsync(process.argv)
  .catch(fail);
