/**
 * The end record of a run whose keeper died without writing one (reboot, kill -9, out of memory), written once what
 * the run left is stopped: every reader then knows it has no process left (its units are free, machine/units.ts) and
 * reads it as lost, to be run again (`abandoned`, as a keeper whose lease ran out), never as a failure. The run's
 * guard (keeper/guard.go) writes the same record when it stops such a run first; this one is for runs it did not.
 */
import type { RunExit, RunFiles } from '../keeper/run-files.js';

export async function recordAbandoned(files: RunFiles, why: string): Promise<void> {
  if (!(await files.exists()) || (await files.readJson<RunExit>(files.exit))) return;
  const exit: RunExit = { end: 'abandoned', exitCode: null, signal: null, endedAt: Date.now(), tail: [], error: why };
  await files.writeJson(files.exit, exit);
}
