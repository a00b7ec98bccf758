/** Stops a background service (dev server, worker) with its whole process group. */
import { setTimeout as delay } from 'node:timers/promises';

const POLL_MS = 50;
const SIGKILL_WAIT_MS = 5_000;

/** Sends `signal` to every process of the group; false when the group has no process left. */
export function signalGroup(groupId: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-groupId, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

export function groupAlive(groupId: number): boolean {
  return signalGroup(groupId, 0);
}

async function waitUntilGone(groupId: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(groupId)) {
    if (Date.now() >= deadline) return false;
    await delay(POLL_MS);
  }
  return true;
}

type KillOutcome = 'already-gone' | 'terminated' | 'killed';

/** SIGTERM to the group, then SIGKILL to whatever is left after `graceMs`. */
export async function killGroup(groupId: number, graceMs: number): Promise<KillOutcome> {
  if (!signalGroup(groupId, 'SIGTERM')) return 'already-gone';
  if (await waitUntilGone(groupId, graceMs)) return 'terminated';
  signalGroup(groupId, 'SIGKILL');
  await waitUntilGone(groupId, SIGKILL_WAIT_MS);
  return 'killed';
}
