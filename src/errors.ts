/** Every error staged throws on purpose, and the exit codes of its command line. */
import type { RunLostDetails } from './model/types.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, detached: 130 } as const;

/** Bad input from the user (a flag, a script, a config file, the setup): one line, exit 2, nothing started. */
export class BadInputError extends Error {}

/** A script that cannot be started as it is (not executable, no interpreter): retrying cannot help. */
export class NotRunnableError extends Error {}

/** A `Priority:`, `Quota:` or `Calls:` line in a docstring that staged cannot read. */
export class DocstringLineError extends Error {}

/** A run whose keeper is gone or whose state cannot be read: the experiment workflow decides what next. */
export class RunLostError extends Error {
  constructor(
    message: string,
    readonly details: RunLostDetails,
  ) {
    super(message);
  }
}

/** A server process exited before it answered: the message says how, with the end of its log (several lines). */
export class ServerExitedError extends Error {}

/** A running batch's state lives in its workflow: only a worker can answer for it. */
export class NoWorkerAnswersError extends Error {
  constructor(
    readonly batchId: string,
    status: string,
    cause: unknown,
    /** The queue a worker must poll to answer: the batch's. */
    readonly taskQueue?: string,
  ) {
    super(`batch ${batchId} is ${status.toLowerCase()}, but no worker answers for it (${oneLine(cause)})`);
  }
}

/** An error's first line: what a person reads on a terminal. */
export function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
