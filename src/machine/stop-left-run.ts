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
/** --stop-left's exit code when the run's spec is unreadable: its run id, which names what it left, is in it. */
const NO_SPEC = 5;

/** What a dead keeper left cannot be found (its spec.json is unreadable): not stopped, and nobody may say it is. */
export class RunNotStoppableError extends Error {
  constructor(
    readonly runDir: string,
    /** `its spec.json is unreadable (…): what it left cannot be found to stop it` */
    readonly why: string,
  ) {
    super(`could not stop what the dead keeper of ${runDir} left: ${why}`);
  }
}

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
  if (stop.exitCode === NO_SPEC) throw new RunNotStoppableError(files.dir, stop.stderr.trim());
  const exit = await files.readJson<RunExit>(files.exit);
  if (stop.exitCode === 0 && exit) return exit;
  throw new Error(
    `could not stop what the dead keeper of ${files.dir} left: ${stop.stderr.trim() || stop.shortMessage}`,
  );
}
