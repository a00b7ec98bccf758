/** Starts a run's keeper, detached from the worker so that it outlives it, and tells whether one still lives. */
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RunFiles, type RunSpec } from '../keeper/run-files.js';

export const KEEPER_SCRIPT = fileURLToPath(new URL('../keeper/keeper.js', import.meta.url));
/** A keeper only moves bytes; a small heap keeps each run's overhead near 40 MB. */
const KEEPER_NODE_FLAGS = ['--max-old-space-size=64'];

export async function launchKeeper(files: RunFiles, spec: RunSpec, env: Record<string, string>): Promise<number> {
  await files.writeJson(files.spec, spec);
  const keeperLog = openSync(files.keeperLog, 'a');
  try {
    const keeper = spawn(process.execPath, [...KEEPER_NODE_FLAGS, KEEPER_SCRIPT, files.dir], {
      cwd: spec.cwd,
      env,
      detached: true,
      stdio: ['ignore', keeperLog, keeperLog],
    });
    keeper.unref();
    if (keeper.pid === undefined) throw new Error(`could not start the keeper of ${files.dir}`);
    return keeper.pid;
  } finally {
    closeSync(keeperLog);
  }
}

/** True when `pid` is a live keeper of this run (not a reused pid). */
export function keeperAlive(pid: number, files: RunFiles): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return cmdline.includes(KEEPER_SCRIPT) && cmdline.includes(files.dir) && stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}
