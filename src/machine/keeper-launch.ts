/**
 * Starts a run's keeper (`dist/keeper/staged-keeper`, compiled from keeper/ by `npm run build`), detached from the
 * worker so that it outlives it, and tells whether one still lives. A compiled keeper starts in a few milliseconds:
 * nothing is started ahead of a run.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, openSync, closeSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProcessIdentity, RunFiles, RunSpec, RunStarted } from '../keeper/run-files.js';
import { stillRunning } from '../keeper/process-identity.js';

export const KEEPER_BINARY = fileURLToPath(new URL('../../keeper/staged-keeper', import.meta.url));
/** The keeper's program names, this one's and that of staged before 2026-12 (`node …/keeper.js <run dir>`). */
const KEEPER_NAMES = [path.basename(KEEPER_BINARY), 'keeper.js'];

/** Throws, saying how to build it, when this install has no keeper to start runs with. */
export function checkKeeperBuilt(): void {
  try {
    accessSync(KEEPER_BINARY, constants.X_OK);
  } catch {
    throw new Error(`no run keeper at ${KEEPER_BINARY}: build it with \`npm run build\` (it needs Go 1.22 or later)`);
  }
}

/** Starts a keeper for the run in `files`, in a session of its own, with `env` as its and the run's environment. */
export async function launchKeeper(
  files: RunFiles,
  spec: RunSpec,
  env: Record<string, string>,
  binary = KEEPER_BINARY,
): Promise<number> {
  await files.writeJson(files.spec, spec);
  const log = openSync(files.keeperLog, 'a');
  try {
    const keeper = spawn(binary, [files.dir], { cwd: spec.cwd, env, detached: true, stdio: ['ignore', log, log] });
    keeper.unref();
    keeper.on('error', () => undefined); // a failed spawn has no pid: said below
    if (keeper.pid === undefined) throw new Error(`could not start the keeper of ${files.dir} (${binary})`);
    return keeper.pid;
  } finally {
    closeSync(log);
  }
}

/** How a worker starts its runs' keepers. */
export class KeeperLauncher {
  /** Fails at the worker's start, not at its first run, when the keeper was not built. */
  open(): void {
    checkKeeperBuilt();
  }

  launch(files: RunFiles, spec: RunSpec, env: Record<string, string>): Promise<number> {
    return launchKeeper(files, spec, env);
  }
}

/**
 * True when `pid` is a live keeper of this run, not a reused pid. A keeper records who it is in `state.json`
 * (pid, start time, boot): that record decides, wherever staged was installed. Without one (a keeper of staged
 * before 2026-12, or one that has not written it yet): a process running a keeper whose arguments name the run,
 * or whose working directory is the run's (a standby keeper of staged before 2026-12 moved there on taking the
 * run, and waited in the standby directory beside the runs).
 */
export function keeperAlive(pid: number, files: RunFiles): boolean {
  const recorded = recordedKeeper(files);
  if (recorded?.pid === pid) return stillRunning(recorded);
  return looksLikeKeeperOf(pid, files);
}

function recordedKeeper(files: RunFiles): ProcessIdentity | undefined {
  try {
    return (JSON.parse(readFileSync(files.state, 'utf8')) as RunStarted).keeper;
  } catch {
    return undefined;
  }
}

function looksLikeKeeperOf(pid: number, files: RunFiles): boolean {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (!args.some((arg) => KEEPER_NAMES.includes(path.basename(arg))) || stat[stat.lastIndexOf(')') + 2] === 'Z')
      return false;
    const runDir = path.resolve(files.dir);
    if (args.some((arg) => arg === files.dir || path.resolve(arg) === runDir)) return true;
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === runDir || cwd === `${path.dirname(runDir)}.standby`;
  } catch {
    return false;
  }
}
