/** The runs kept on this machine for one task queue, as their directories tell (runs-layout.ts). */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { RunFiles, runQuotaOf, type RunExit, type RunQuota, type RunStarted } from '../keeper/run-files.js';
import { keeperAlive } from './keeper-launch.js';

export interface MachineRun {
  runKey: string;
  files: RunFiles;
  /** Absent until its keeper has started the script. */
  started?: RunStarted;
  /** Its keeper has recorded how it ended. */
  ended: boolean;
  /** Its keeper still runs (false until it has started). */
  kept: boolean;
}

/** One runs directory, or several read one after the other. */
export type RunsDirs = string | readonly string[];

/** The runs of these directories whose keys `wanted` accepts (all by default), each read from its files. */
export async function* machineRuns(
  runsDirs: RunsDirs,
  wanted: (runKey: string) => boolean = () => true,
): AsyncGenerator<MachineRun> {
  for (const runsDir of typeof runsDirs === 'string' ? [runsDirs] : runsDirs) yield* runsIn(runsDir, wanted);
}

/**
 * Runs whose end is recorded, by directory, as first read: an `exit.json` is written last and never removed,
 * so each ended run is read once, not at every pass until its directory goes.
 */
const endedRuns = new Map<string, MachineRun>();

async function* runsIn(runsDir: string, wanted: (runKey: string) => boolean): AsyncGenerator<MachineRun> {
  const runKeys = await readdir(runsDir).catch(() => [] as string[]);
  forgetRemovedRuns(runsDir, new Set(runKeys));
  for (const runKey of runKeys) {
    if (!wanted(runKey)) continue;
    const dir = path.join(runsDir, runKey);
    const endedRun = endedRuns.get(dir);
    if (endedRun) {
      yield endedRun;
      continue;
    }
    const files = new RunFiles(dir);
    const ended = (await files.readJson<RunExit>(files.exit)) !== undefined;
    // One run's state.json cut short (a full disk) must not stop a worker's start, nor its checks of every run.
    const started = await files.readJson<RunStarted>(files.state).catch(() => undefined);
    const run = {
      runKey,
      files,
      started,
      ended,
      kept: started !== undefined && !ended && keeperAlive(started.keeperPid, files),
    };
    if (ended) endedRuns.set(dir, run);
    yield run;
  }
}

/** A run key used again after its directory went (a batch id reused) is a new run: read afresh. */
function forgetRemovedRuns(runsDir: string, runKeys: ReadonlySet<string>): void {
  const parent = path.dirname(path.join(runsDir, '_'));
  for (const dir of endedRuns.keys())
    if (path.dirname(dir) === parent && !runKeys.has(path.basename(dir))) endedRuns.delete(dir);
}

export type AdoptionFound = 'alive' | 'ended' | 'lost';

/**
 * What a worker adopting a run finds in its directory: `alive` (its keeper runs it, or has not written its start yet),
 * `ended` (its keeper recorded its end while no worker held it), or `lost` (its keeper died: recorded abandoned, or
 * gone without an end, which the hold then stops and records).
 */
export async function adoptionFound(files: RunFiles): Promise<AdoptionFound> {
  const exit = await files.readJson<RunExit>(files.exit);
  if (exit) return exit.end === 'abandoned' ? 'lost' : 'ended';
  const started = await files.readJson<RunStarted>(files.state);
  return started && !keeperAlive(started.keeperPid, files) ? 'lost' : 'alive';
}

/** The quota secret, quotas and socket of a run whose keeper still runs it here; undefined once it ended. */
export async function liveRunQuota(runsDir: string, runKey: string): Promise<RunQuota | undefined> {
  const files = new RunFiles(path.join(runsDir, runKey));
  if (endedRuns.has(files.dir) || (await files.readJson<RunExit>(files.exit)) !== undefined) return undefined;
  const started = await files.readJson<RunStarted>(files.state).catch(() => undefined);
  if (!started || !keeperAlive(started.keeperPid, files)) return undefined;
  return runQuotaOf(await files.readSpec());
}

/** The run keys of the runs directory (one directory per run). */
export async function machineRunKeys(runsDir: string): Promise<string[]> {
  return readdir(runsDir).catch(() => [] as string[]);
}

/** The quota secret and quotas of a run kept here, found by its token (the run's spec holds them). */
export async function runQuotasByToken(runsDirs: RunsDirs, token: string): Promise<RunQuota | undefined> {
  for await (const run of machineRuns(runsDirs)) {
    if (run.ended) continue;
    const quota = runQuotaOf(await run.files.readSpec());
    if (quota?.token === token) return quota;
  }
  return undefined;
}
