/** How a failed command ends: one line on stderr (and a JSON error on stdout with --json), and its exit code. */
import { isGrpcServiceError } from '@temporalio/client';
import { BadInputError, EXIT, NoWorkerAnswersError, oneLine, ServerExitedError } from '../errors.js';
import { debugSetting } from '../settings.js';
import { commandHint, workerHint } from './invocation.js';

const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

/** Server trouble met after connecting is still the user's setup to fix, not a failed batch. */
function exitCodeOf(err: unknown): number {
  if (err instanceof BadInputError) return EXIT.usage;
  const code: number | undefined = isGrpcServiceError(err) ? err.code : undefined;
  return code === UNAVAILABLE || code === DEADLINE_EXCEEDED ? EXIT.usage : EXIT.failed;
}

function messageOf(err: unknown): string {
  if (err instanceof BadInputError || err instanceof ServerExitedError) return err.message;
  if (err instanceof NoWorkerAnswersError) {
    const start = err.taskQueue === undefined ? commandHint('worker') : workerHint(err.taskQueue);
    return `${err.message}; start one with: ${start}`;
  }
  return oneLine(err);
}

/** Prints the error and returns the exit code; a stack trace only with STAGED_DEBUG=1. */
export function reportError(err: unknown, json: boolean): number {
  const exitCode = exitCodeOf(err);
  const message = messageOf(err);
  console.error(`staged: ${message}`);
  if (debugSetting() && err instanceof Error && err.stack) console.error(err.stack);
  if (json) console.log(JSON.stringify({ error: { message, exitCode } }));
  return exitCode;
}
