/** Stops a whole process tree: every experiment runs as the leader of its own process group. */
import { readdir, readFile } from 'node:fs/promises';
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

export type KillOutcome = 'already-gone' | 'terminated' | 'killed';

/** SIGTERM to the group, then SIGKILL to whatever is left after `graceMs`. */
export async function killGroup(groupId: number, graceMs: number): Promise<KillOutcome> {
  if (!signalGroup(groupId, 'SIGTERM')) return 'already-gone';
  if (await waitUntilGone(groupId, graceMs)) return 'terminated';
  signalGroup(groupId, 'SIGKILL');
  await waitUntilGone(groupId, SIGKILL_WAIT_MS);
  return 'killed';
}

/** Pids of the processes in a group, from /proc (Linux). */
export async function groupMembers(groupId: number): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // Fields after the command name, which is in parentheses and may contain spaces: state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === groupId) members.push(Number(entry));
  }
  return members;
}

/** True when some process of the group has all these environment entries; guards against a reused pid. */
export async function groupHasEnvironment(groupId: number, entries: Record<string, string>): Promise<boolean> {
  for (const pid of await groupMembers(groupId)) {
    const environ = (await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')).split('\0');
    if (Object.entries(entries).every(([key, value]) => environ.includes(`${key}=${value}`))) return true;
  }
  return false;
}
