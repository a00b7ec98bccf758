/** The runs kept on this machine for one task queue, as their directories tell (runs-layout.ts). */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  RunFiles,
  runQuotaOf,
  type RunExit,
  type RunQuota,
  type RunSpec,
  type RunStarted,
} from '../keeper/run-files.js';
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

async function* runsIn(runsDir: string, wanted: (runKey: string) => boolean): AsyncGenerator<MachineRun> {
  for (const runKey of await readdir(runsDir).catch(() => [] as string[])) {
    if (!wanted(runKey)) continue;
    const files = new RunFiles(path.join(runsDir, runKey));
    const ended = (await files.readJson<RunExit>(files.exit)) !== undefined;
    const started = await files.readJson<RunStarted>(files.state);
    yield {
      runKey,
      files,
      started,
      ended,
      kept: started !== undefined && !ended && keeperAlive(started.keeperPid, files),
    };
  }
}

/** The quota secret, quotas and socket of a run whose keeper still runs it here; undefined once it ended. */
export async function liveRunQuota(runsDir: string, runKey: string): Promise<RunQuota | undefined> {
  const files = new RunFiles(path.join(runsDir, runKey));
  if ((await files.readJson<RunExit>(files.exit)) !== undefined) return undefined;
  const started = await files.readJson<RunStarted>(files.state);
  if (!started || !keeperAlive(started.keeperPid, files)) return undefined;
  return runQuotaOf(await files.readJson<RunSpec>(files.spec));
}

/** The run keys of the runs directory (one directory per run). */
export async function machineRunKeys(runsDir: string): Promise<string[]> {
  return readdir(runsDir).catch(() => [] as string[]);
}

/** The quota secret and quotas of a run kept here, found by its token (the run's spec holds them). */
export async function runQuotasByToken(runsDirs: RunsDirs, token: string): Promise<RunQuota | undefined> {
  for await (const run of machineRuns(runsDirs)) {
    if (run.ended) continue;
    const quota = runQuotaOf(await run.files.readJson<RunSpec>(run.files.spec));
    if (quota?.token === token) return quota;
  }
  return undefined;
}
