import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { attemptLogFile, experimentResultsDir } from '../paths.js';
import { FAILURE_TYPES, type RunFailureDetails, type RunHeartbeat, type RunInput, type RunOutcome } from '../shared/types.js';
import { AttemptLog } from './attempt-log.js';
import { NotRunnableError, resolveCommand } from './command.js';
import { groupAlive, groupHasEnvironment, killGroup } from './process-group.js';
import { superviseProcess } from './supervise.js';
import { writeBatchSummary } from './write-summary.js';

const TAIL_LINES = 20;

export interface ActivityOptions {
  /** Bytes of output kept at the start of each log file; past it only the last lines are kept. */
  logLimitBytes: number;
}

export const DEFAULT_LOG_LIMIT_BYTES = 64 * 1024 * 1024;

export function createActivities(options: ActivityOptions = { logLimitBytes: DEFAULT_LOG_LIMIT_BYTES }) {
  return {
    writeBatchSummary,

    /**
     * One run of an experiment's process. A process failure is non-retryable here: the experiment
     * workflow decides about retries. Losing the worker is retryable: Temporal runs it again.
     */
    async runExperiment(input: RunInput): Promise<RunOutcome> {
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

      await killLeftoverOfPreviousAttempt(context, input);
      const command = await resolveCommand(path.join(settings.experimentsDir, experiment.file)).catch((err) => {
        if (err instanceof NotRunnableError) throw notRunnable(err.message, failureDetails({ runs: 0 }));
        throw err;
      });
      const resultsDir = experimentResultsDir(settings.workDir, batchId, experiment.name);
      await mkdir(path.dirname(logFile), { recursive: true });
      await mkdir(resultsDir, { recursive: true });

      const log = new AttemptLog(logFile, options.logLimitBytes);
      const outcome = await superviseProcess(context, command, {
        cwd: settings.workDir,
        log,
        timeoutMs: settings.timeoutMs ?? 2 ** 31 - 1,
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
        const message = `${experiment.name}: cannot start ${command.file}: ${outcome.spawnError}`;
        throw notRunnable(message, failureDetails({ runs: 0 }));
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
        ? `timed out after ${(settings.timeoutMs ?? 0) / 1000}s`
        : outcome.exitCode !== null
          ? `exited with code ${outcome.exitCode}`
          : `was killed by ${outcome.signal}`;
      throw ApplicationFailure.create({
        type: FAILURE_TYPES.experimentFailed,
        nonRetryable: true,
        message: `${experiment.name} attempt ${run} ${why}; log: ${logFile}\n${log.lastLines(TAIL_LINES).join('\n')}`,
        details: [failureDetails({ exitCode: outcome.exitCode, signal: outcome.signal, timedOut: outcome.timedOut })],
      });
    },
  };
}

export type StagedActivities = ReturnType<typeof createActivities>;

/** Never two live processes of one experiment: a previous attempt's group on this host goes first. */
async function killLeftoverOfPreviousAttempt(context: Context, input: RunInput): Promise<void> {
  const previous = context.info.heartbeatDetails as RunHeartbeat | undefined;
  if (!previous?.groupId || previous.host !== hostname() || !groupAlive(previous.groupId)) return;
  const ours = { STAGED_BATCH_ID: input.batchId, STAGED_EXPERIMENT: input.experiment.name };
  if (await groupHasEnvironment(previous.groupId, ours)) {
    context.log.warn('killing the process group left by the previous attempt', { groupId: previous.groupId });
    await killGroup(previous.groupId, input.settings.killGraceMs);
  }
}

function notRunnable(message: string, details: RunFailureDetails): ApplicationFailure {
  return ApplicationFailure.create({ type: FAILURE_TYPES.notRunnable, nonRetryable: true, message, details: [details] });
}
