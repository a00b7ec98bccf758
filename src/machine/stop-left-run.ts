/**
 * Stops what a run whose keeper died without an end record left running, and records that end (`abandoned`), through
 * the keeper binary's own stop (`staged-keeper --stop-left`, keeper/stop_left.go): the very stop its guard makes, with
 * the same SIGTERM to late members, SIGKILL, survivors and pidfds, so that no second copy of it lives here.
 */
import { execa } from 'execa';
import type { KillMode, RunExit, RunFiles } from '../keeper/run-files.js';
import { KEEPER_BINARY } from './keeper-launch.js';

/** --stop-left's exit code when a keeper or its guard still holds the run: they record its end themselves. */
const HELD = 3;
/** --stop-left's exit code when the run's directory is gone (or made again for a new run): nothing to record. */
const GONE = 4;

/**
 * The run's end record once what it left is stopped; undefined while a keeper or its guard still holds it, or once its
 * directory is gone (the holder's lease renewal then says so).
 */
export async function stopLeftRun(files: RunFiles, killMode: KillMode | undefined): Promise<RunExit | undefined> {
  const stop = await execa(KEEPER_BINARY, ['--stop-left', files.dir, killMode ?? ''], {
    reject: false,
    stdin: 'ignore',
  });
  if (stop.exitCode === HELD || stop.exitCode === GONE) return undefined;
  const exit = await files.readJson<RunExit>(files.exit);
  if (stop.exitCode === 0 && exit) return exit;
  throw new Error(
    `could not stop what the dead keeper of ${files.dir} left: ${stop.stderr.trim() || stop.shortMessage}`,
  );
}
