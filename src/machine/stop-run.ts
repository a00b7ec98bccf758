/** Asks a run's keeper to stop the run: the reason goes in the run's directory, then SIGTERM. */
import { stat, writeFile } from 'node:fs/promises';
import type { RunFiles } from '../keeper/run-files.js';

export async function requestStop(
  files: RunFiles,
  keeperPid: number | undefined,
  reason: 'cancelled' | 'shutdown',
): Promise<void> {
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
