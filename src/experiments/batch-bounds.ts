/**
 * Bounds a batch's experiments must fit, checked at `submit` and `add` so that nothing is refused later: a run's
 * directory name, and the size of an `add`'s Update.
 */
import { BadInputError } from '../errors.js';
import { runKeyOf } from '../keeper/run-files.js';
import { experimentWorkflowId } from '../model/batch-state.js';

/** A run's directory is named by its run key; most file systems allow 255 bytes in a name. */
export const MAX_RUN_KEY_BYTES = 255;
/** The run number allowed for: retries, requeues and restarts all count runs. */
const RUN_NUMBER_ROOM = 99_999;
/** An `add`'s experiments travel in one Update: over 2 MB (by default) the server terminates the batch. */
export const MAX_ADD_BYTES = 1024 ** 2;

/** Refuses an experiment whose run directory name (batch id and name, URL-encoded, and `.run-N`) is too long. */
export function refuseLongRunKeys(batchId: string, experiments: readonly { name: string }[]): void {
  for (const { name } of experiments) {
    const bytes = Buffer.byteLength(runKeyOf(experimentWorkflowId(batchId, name), RUN_NUMBER_ROOM));
    if (bytes > MAX_RUN_KEY_BYTES) {
      throw new BadInputError(
        `${name}: its runs' directory name would be ${bytes} bytes (batch id and name URL-encoded, and .run-N), ` +
          `over the limit of ${MAX_RUN_KEY_BYTES}: use a shorter script name or shorter sweep values`,
      );
    }
  }
}

/** Refuses an `add` whose experiments would not fit one Update, before it is sent. */
export function refuseLargeAdd(payload: unknown, count: number): void {
  const bytes = Buffer.byteLength(JSON.stringify(payload));
  if (bytes > MAX_ADD_BYTES) {
    throw new BadInputError(
      `the ${count} added experiments take ${Math.ceil(bytes / 1024)} KB, more than one add may carry ` +
        `(${MAX_ADD_BYTES / 1024} KB): add them in parts (a smaller sweep per script), or submit them as a new batch`,
    );
  }
}
