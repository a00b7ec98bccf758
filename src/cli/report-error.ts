/** How a failed command ends: one readable line on stderr (and a JSON error on stdout with --json), and its exit code. */
import { isGrpcServiceError } from '@temporalio/client';
import { BadInputError } from '../shared/bad-input.js';
import { oneLine } from './connect.js';
import { EXIT } from './errors.js';

const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;

/** Server trouble met after connecting is still the user's setup to fix, not a failed batch. */
function exitCodeOf(err: unknown): number {
  if (err instanceof BadInputError) return EXIT.usage;
  if (isGrpcServiceError(err) && (err.code === UNAVAILABLE || err.code === DEADLINE_EXCEEDED)) return EXIT.usage;
  return EXIT.failed;
}

/** Prints the error and returns the exit code; a stack trace only with STAGED_DEBUG=1. */
export function reportError(err: unknown, json: boolean): number {
  const exitCode = exitCodeOf(err);
  const message = err instanceof BadInputError ? err.message : oneLine(err);
  console.error(`staged: ${message}`);
  if (process.env.STAGED_DEBUG && err instanceof Error && err.stack) console.error(err.stack);
  if (json) console.log(JSON.stringify({ error: { message, exitCode } }));
  return exitCode;
}
