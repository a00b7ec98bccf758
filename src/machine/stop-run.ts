/** Asks a run's keeper to stop the run: the reason goes in the run's directory, then SIGTERM. */
import { appendFile, stat, writeFile } from 'node:fs/promises';
import type { RunExit, RunFiles } from '../keeper/run-files.js';

/** Why a worker stops a run, as its keeper records it. */
export type StopReason = 'cancelled' | 'shutdown';

export async function requestStop(files: RunFiles, keeperPid: number | undefined, reason: StopReason): Promise<void> {
  await writeFile(files.stopReason, reason);
  if (keeperPid !== undefined) signal(keeperPid, 'SIGTERM');
}

/** Whether a stop of the run was asked over `ms` ago (by a worker that may have died since); a keeper acts at once. */
export async function stopAskedBefore(files: RunFiles, ms: number): Promise<boolean> {
  const asked = await stat(files.stopReason).then(
    (info) => info.mtimeMs,
    () => undefined,
  );
  return asked !== undefined && Date.now() - asked > ms;
}

/** Ends a keeper that did not answer its stop request: its guard then stops what it leaves, and records it. */
export function killKeeper(keeperPid: number): void {
  signal(keeperPid, 'SIGKILL');
}

/** How the guard (keeper/guard.go) and `--stop-left` begin the record of a keeper gone without an end record. */
const KEEPER_DIED = 'its keeper died without recording an end; ';

const STOP_WORDS: Record<StopReason, string> = { cancelled: 'cancelled', shutdown: 'stopped with its worker' };

/** Ends the run's attempt log with the stop its keeper did not answer: the log is what the user keeps of the run. */
export async function sayKeeperKilled(files: RunFiles, reason: StopReason, waitedMs: number): Promise<void> {
  const logFile = (await files.readSpec())?.logFile; // undefined, not a throw, for a spec cut short
  if (logFile === undefined) return;
  const line = `${keeperKilledWords(reason, waitedMs)}, and its guard stops the run`;
  await appendFile(logFile, `\n[staged] ${line}\n`).catch(() => undefined);
}

/**
 * The end record of a run whose keeper its worker killed for not answering a stop, told as that stop: its guard (or the
 * worker's `--stop-left`) records any keeper gone without an end as died (`abandoned`), which reads like a crash.
 */
export async function recordKilledKeeperEnd(
  files: RunFiles,
  reason: StopReason,
  waitedMs: number,
): Promise<RunExit | undefined> {
  const exit = await files.readJson<RunExit>(files.exit);
  if (exit?.end !== 'abandoned') return exit;
  const stopper = exit.error?.startsWith(KEEPER_DIED) ? exit.error.slice(KEEPER_DIED.length) : exit.error;
  const told: RunExit = {
    ...exit,
    end: reason,
    error: `${keeperKilledWords(reason, waitedMs).replace('kills', 'killed')}${stopper ? `, and ${stopper}` : ''}`,
  };
  await files.writeJson(files.exit, told);
  return told;
}

function keeperKilledWords(reason: StopReason, waitedMs: number): string {
  const seconds = Math.round(waitedMs / 1000);
  return `${STOP_WORDS[reason]}; its keeper did not answer the stop within ${seconds}s, so its worker kills it`;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** Tells the run's keeper its worker lets go of it for adoption: a SIGTERM it gets at the same time is no stop. */
export async function markLeftForAdoption(files: RunFiles): Promise<void> {
  await writeFile(files.leftMark, String(Date.now())).catch(() => undefined);
}
