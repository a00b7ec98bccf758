import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { execa } from 'execa';
import { attemptLogFile, experimentResultsDir } from '../paths.js';
import { FAILURE_TYPES, type RunFailureDetails, type RunInput, type RunOutcome } from '../shared/types.js';
import { NotRunnableError, resolveCommand, type ExperimentCommand } from './command.js';
import { lastLines } from './log-tail.js';
import { groupAlive, killGroup } from './process-group.js';

const TAIL_LINES = 20;

/**
 * One run of an experiment's process: spawned in its own process group, output streamed to the
 * attempt's log file, heartbeating so that a lost worker is noticed, and killed as a whole tree on
 * cancel, timeout or worker shutdown.
 */
export async function runExperiment(input: RunInput): Promise<RunOutcome> {
  const context = Context.current();
  const { settings, experiment, batchId } = input;
  const runs = context.info.attempt;
  const run = input.runsBefore + runs;
  const logFile = attemptLogFile(settings.workDir, batchId, experiment.name, run);
  const failureDetails = (extra: Partial<RunFailureDetails> = {}): RunFailureDetails => ({
    runs,
    exitCode: null,
    signal: null,
    timedOut: false,
    logFile,
    ...extra,
  });

  const command = await resolveCommand(path.join(settings.experimentsDir, experiment.file)).catch((err) => {
    if (err instanceof NotRunnableError) throw notRunnable(err.message, failureDetails({ runs: 0 }));
    throw err;
  });
  const resultsDir = experimentResultsDir(settings.workDir, batchId, experiment.name);
  await mkdir(path.dirname(logFile), { recursive: true });
  await mkdir(resultsDir, { recursive: true });

  const outcome = await superviseProcess(context, command, {
    cwd: settings.workDir,
    logFile,
    timeoutMs: settings.timeoutMs,
    killGraceMs: settings.killGraceMs,
    heartbeatEveryMs: Math.max(1_000, Math.floor(settings.heartbeatTimeoutMs / 3)),
    env: {
      STAGED_BATCH_ID: batchId,
      STAGED_EXPERIMENT: experiment.name,
      STAGED_ATTEMPT: String(run),
      STAGED_RESULTS_DIR: resultsDir,
      PYTHONUNBUFFERED: '1',
    },
  });

  if (outcome.spawnError) {
    throw notRunnable(`${experiment.name}: cannot start ${command.file}: ${outcome.spawnError}`, failureDetails({ runs: 0 }));
  }
  if (context.cancellationSignal.aborted) {
    if (context.cancellationDetails?.cancelRequested) throw new CancelledFailure(`${experiment.name} cancelled`);
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.workerShutdown,
      message: `${experiment.name} attempt ${run} stopped with its worker; it will run again`,
    });
  }
  if (outcome.exitCode === 0 && !outcome.timedOut) return { runs };

  const why = outcome.timedOut
    ? `timed out after ${settings.timeoutMs / 1000}s`
    : outcome.exitCode !== null
      ? `exited with code ${outcome.exitCode}`
      : `was killed by ${outcome.signal}`;
  const tail = await lastLines(logFile, TAIL_LINES).catch(() => []);
  throw ApplicationFailure.create({
    type: FAILURE_TYPES.experimentFailed,
    nonRetryable: true,
    message: `${experiment.name} attempt ${run} ${why}; log: ${logFile}\n${tail.join('\n')}`,
    details: [failureDetails({ exitCode: outcome.exitCode, signal: outcome.signal, timedOut: outcome.timedOut })],
  });
}

function notRunnable(message: string, details: RunFailureDetails): ApplicationFailure {
  return ApplicationFailure.create({ type: FAILURE_TYPES.notRunnable, nonRetryable: true, message, details: [details] });
}

interface SuperviseOptions {
  cwd: string;
  env: Record<string, string>;
  logFile: string;
  timeoutMs: number;
  killGraceMs: number;
  heartbeatEveryMs: number;
}

interface ProcessOutcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  spawnError?: string;
}

async function superviseProcess(
  context: Context,
  command: ExperimentCommand,
  options: SuperviseOptions,
): Promise<ProcessOutcome> {
  const log = createWriteStream(options.logFile);
  const subprocess = execa(command.file, command.args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
  });
  if (subprocess.all) subprocess.all.pipe(log);
  else log.end();
  const groupId = subprocess.pid;

  let timedOut = false;
  let stopping: Promise<unknown> | undefined;
  const stop = () => {
    if (groupId !== undefined) stopping ??= killGroup(groupId, options.killGraceMs);
  };
  const heartbeat = setInterval(() => context.heartbeat({ pid: groupId }), options.heartbeatEveryMs);
  const timeout = setTimeout(() => {
    timedOut = true;
    stop();
  }, options.timeoutMs);
  context.cancellationSignal.addEventListener('abort', stop);
  context.heartbeat({ pid: groupId });

  try {
    // Not `await subprocess` first: a grandchild holding stdout open would keep it pending forever.
    await Promise.race([once(subprocess, 'exit'), subprocess]);
    // Grandchildren may outlive the script; they belong to the run and go with it.
    if (groupId !== undefined && groupAlive(groupId)) stop();
    await stopping;
    const result = await subprocess;
    await finished(log).catch(() => undefined);
    if (result.exitCode === undefined && !result.signal) {
      return { exitCode: null, signal: null, timedOut, spawnError: result.cause instanceof Error ? result.cause.message : result.message };
    }
    return { exitCode: result.exitCode ?? null, signal: result.signal ?? null, timedOut };
  } finally {
    clearInterval(heartbeat);
    clearTimeout(timeout);
    context.cancellationSignal.removeEventListener('abort', stop);
  }
}
