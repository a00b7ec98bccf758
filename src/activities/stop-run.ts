/** Asks a run's keeper to stop the run: the reason goes in the run's directory, then SIGTERM. */
import { writeFile } from 'node:fs/promises';
import type { RunFiles } from '../keeper/run-files.js';

export async function requestStop(
  files: RunFiles,
  keeperPid: number | undefined,
  reason: 'cancelled' | 'shutdown',
): Promise<void> {
  await writeFile(files.stopReason, reason);
  if (keeperPid === undefined) return;
  try {
    process.kill(keeperPid, 'SIGTERM');
  } catch {
    // already gone
  }
}
