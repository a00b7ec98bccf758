/**
 * Starts a run's keeper, detached from the worker so that it outlives it, and tells whether one still lives.
 * A worker keeps one keeper started ahead (standby), so a run starts without waiting for Node to boot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunFiles, STANDBY_FLAG, type ProcessIdentity, type RunSpec, type RunStarted } from '../keeper/run-files.js';
import { stillRunning } from '../keeper/process-identity.js';
import { experimentEnvironment } from './child-env.js';

export const KEEPER_SCRIPT = fileURLToPath(new URL('../keeper/keeper.js', import.meta.url));
/** A keeper only moves bytes; a small heap keeps each run's overhead near 40 MB. */
const KEEPER_NODE_FLAGS = ['--max-old-space-size=64'];

function spawnKeeper(args: string[], cwd: string, env: NodeJS.ProcessEnv, logFile: string, stdin: 'ignore' | 'pipe') {
  const log = openSync(logFile, 'a');
  try {
    const keeper = spawn(process.execPath, [...KEEPER_NODE_FLAGS, KEEPER_SCRIPT, ...args], {
      cwd,
      env,
      detached: true,
      stdio: [stdin, log, log],
    });
    keeper.unref();
    keeper.on('error', () => undefined); // a failed spawn has no pid: the callers check that
    return keeper;
  } finally {
    closeSync(log);
  }
}

/** Starts a keeper for the run in `files` at once (no standby). */
export async function launchKeeper(files: RunFiles, spec: RunSpec, env: Record<string, string>): Promise<number> {
  await files.writeJson(files.spec, spec);
  const keeper = spawnKeeper([files.dir], spec.cwd, env, files.keeperLog, 'ignore');
  if (keeper.pid === undefined) throw new Error(`could not start the keeper of ${files.dir}`);
  return keeper.pid;
}

/**
 * Hands each run to a keeper started ahead, and starts the next one meanwhile. A standby keeper has the
 * experiments' environment without the run's own variables (never the worker's credentials), and exits
 * when the worker goes away before giving it a run (its stdin closes).
 */
export class KeeperLauncher {
  private standby: ChildProcess | undefined;
  private closed = false;

  constructor(private readonly runsDir: string) {}

  /** Starts the first standby keeper. */
  async open(): Promise<void> {
    await mkdir(this.standbyDir, { recursive: true });
    this.prepare();
  }

  async launch(files: RunFiles, spec: RunSpec, env: Record<string, string>): Promise<number> {
    await files.writeJson(files.spec, spec);
    const keeper = this.takeStandby(); // after the await: one that died meanwhile is not taken
    if (!keeper?.pid) return launchKeeper(files, spec, env);
    keeper.stdin!.end(JSON.stringify({ dir: path.resolve(files.dir), env }));
    return keeper.pid;
  }

  /** The standby keeper exits: nothing was handed to it. */
  close(): void {
    this.closed = true;
    this.standby?.stdin?.end();
    this.standby = undefined;
  }

  private get standbyDir(): string {
    return standbyDirOf(this.runsDir);
  }

  private takeStandby(): ChildProcess | undefined {
    const keeper = this.standby;
    this.standby = undefined;
    this.prepare();
    return keeper && keeper.exitCode === null && keeper.signalCode === null && keeper.stdin?.writable
      ? keeper
      : undefined;
  }

  private prepare(): void {
    if (this.closed) return;
    try {
      const env = experimentEnvironment(process.env, {});
      const keeper = spawnKeeper(
        [STANDBY_FLAG],
        this.standbyDir,
        env,
        path.join(this.standbyDir, 'keepers.log'),
        'pipe',
      );
      keeper.stdin!.on('error', () => undefined); // a standby that died: launch() starts one directly
      keeper.on('exit', () => {
        if (this.standby === keeper) this.standby = undefined;
      });
      (keeper.stdin as unknown as { unref?: () => void }).unref?.();
      this.standby = keeper;
    } catch {
      this.standby = undefined;
    }
  }
}

/** Where standby keepers wait, beside the runs (never among them: every entry there is a run). */
function standbyDirOf(runsDir: string): string {
  return `${path.resolve(runsDir)}.standby`;
}

/**
 * True when `pid` is a live keeper of this run, not a reused pid. A keeper records who it is in `state.json`
 * (pid, start time, boot): that record decides, wherever staged was installed. Without one (a keeper of staged
 * before 2026-12, or one that has not written it yet): a process running some `keeper.js` whose arguments name
 * the run, or whose working directory is the run's (a standby keeper moves there on taking the run, and waits in
 * the standby directory).
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
    if (!args.some((arg) => path.basename(arg) === 'keeper.js') || stat[stat.lastIndexOf(')') + 2] === 'Z')
      return false;
    const runDir = path.resolve(files.dir);
    if (args.some((arg) => arg === files.dir || path.resolve(arg) === runDir)) return true;
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === runDir || cwd === standbyDirOf(path.dirname(runDir));
  } catch {
    return false;
  }
}
