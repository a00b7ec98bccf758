/**
 * What a SIGTERM to a keeper means, decided from what its worker wrote in the run's directory:
 * - a stop reason (`stop`): the worker asked (cancel, or `--on-shutdown stop`);
 * - a fresh "left for adoption" mark (`left`): the worker is shutting down and leaves the run to be adopted,
 *   and the same SIGTERM reached the keeper too (`systemctl stop` with KillMode=control-group, a logout):
 *   the run goes on;
 * - neither within a short wait: nobody asked (`kill <keeper pid>`): the run is stopped as a failed attempt.
 * The worker writes its word the moment it is stopped itself, so the wait only covers a SIGTERM sent to both.
 */
import { readFile, stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { RunFiles } from './run-files.js';

/** How long a SIGTERM waits for its worker's word before it counts as nobody's. */
export const SIGTERM_EXPLAINED_WITHIN_MS = 5_000;
/** A "left" mark older than this before the SIGTERM belongs to an earlier shutdown. */
const LEFT_MARK_FRESH_MS = 10_000;
const POLL_MS = 100;

type SigtermMeaning = 'cancelled' | 'shutdown' | 'left' | 'terminated';

export async function meaningOfSigterm(
  files: RunFiles,
  receivedAt: number,
  waitMs = SIGTERM_EXPLAINED_WITHIN_MS,
): Promise<SigtermMeaning> {
  for (const deadline = receivedAt + waitMs; ; await delay(POLL_MS)) {
    const reason = await readFile(files.stopReason, 'utf8').catch(() => undefined);
    if (reason !== undefined) return reason.trim() === 'shutdown' ? 'shutdown' : 'cancelled';
    const leftAt = await stat(files.leftMark).then(
      (info) => info.mtimeMs,
      () => undefined,
    );
    if (leftAt !== undefined && leftAt >= receivedAt - LEFT_MARK_FRESH_MS) return 'left';
    if (Date.now() >= deadline) return 'terminated';
  }
}
