/**
 * Starts a run's keeper (`dist/keeper/staged-keeper`, compiled from keeper/ by `npm run build`), detached from the
 * worker so that it outlives it, and tells whether one still lives. A compiled keeper starts in a few milliseconds:
 * nothing is started ahead of a run. A worker starts its keepers through a launcher (`KeeperLauncher`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
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
    throw new Error(`no run keeper at ${KEEPER_BINARY}: build it with \`npm run build\` (it needs Go 1.23 or later)`);
  }
}

/**
 * Starts a keeper for the run in `files` from this process, in a session of its own, with `env` as its and the run's
 * environment: for tests and keepers of another build; a worker starts its keepers through its `KeeperLauncher`.
 */
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

/** A launch sent to a launcher and not answered yet. */
interface PendingLaunch {
  request: LaunchRequest;
  /** Launchers that died with it in flight: each may have started its keeper. */
  lostWith: number;
  sentTo?: ChildProcess;
  resolve(pid: number | undefined): void;
  reject(err: Error): void;
}

interface LaunchRequest {
  id: number;
  runDir: string;
  cwd: string;
  env: Record<string, string>;
  keeperLog: string;
}

interface LaunchReply {
  id: number;
  pid?: number;
  error?: string;
}

/**
 * Launchers that may die with one launch in flight before it is given up: the run then waits for its keeper's
 * record, and runs again without one.
 */
const LAUNCHERS_PER_LAUNCH = 3;

/**
 * How a worker starts its runs' keepers: through a launcher (`staged-keeper --launcher`, keeper/launcher.go), one
 * small process per worker that starts each keeper when asked on its stdin. Node forks its whole process (~150 MB)
 * to start a process; the launcher does it for a line written and a line read. A launcher that dies is replaced at
 * the next launch, and the launches it had not answered are sent to the new one: a keeper that had started already
 * holds its run's lock, and the second exits at once (keeper/run_lock.go).
 */
export class KeeperLauncher {
  private launcher: ChildProcess | undefined;
  private readonly pending = new Map<number, PendingLaunch>();
  private nextId = 1;

  constructor(private readonly binary = KEEPER_BINARY) {}

  /** Fails at the worker's start, not at its first run, when the keeper was not built. */
  open(): void {
    checkKeeperBuilt();
    this.running();
  }

  /**
   * Writes the run's spec, then has its keeper started; resolves with the keeper's pid, or with undefined when the
   * launch was sent again after its launcher died (which keeper runs it is then known from its `state.json`).
   */
  async launch(files: RunFiles, spec: RunSpec, env: Record<string, string>): Promise<number | undefined> {
    await files.writeJson(files.spec, spec);
    const request = { id: this.nextId++, runDir: files.dir, cwd: spec.cwd, env, keeperLog: files.keeperLog };
    return new Promise((resolve, reject) => {
      const launch = { request, lostWith: 0, resolve, reject };
      this.pending.set(request.id, launch);
      this.send(launch);
    });
  }

  /** Lets the launcher go (it exits once its stdin closes); the keepers it started run on. */
  close(): void {
    this.launcher?.stdin?.end();
    this.launcher = undefined;
  }

  private send(launch: PendingLaunch): void {
    let launcher: ChildProcess;
    try {
      launcher = this.running();
    } catch (err) {
      this.settle(launch, err as Error);
      return;
    }
    launch.sentTo = launcher;
    launcher.stdin!.write(`${JSON.stringify(launch.request)}\n`);
  }

  /** The live launcher, started when there is none. */
  private running(): ChildProcess {
    if (this.launcher) return this.launcher;
    // A session of its own, in /, with no environment: no terminal's signal, run directory or credential of the
    // worker's reaches it. Its argv[0] is the keeper it starts.
    const launcher = spawn(this.binary, ['--launcher'], {
      cwd: '/',
      env: {},
      detached: true,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.launcher = launcher;
    launcher.unref();
    for (const stream of [launcher.stdin, launcher.stdout] as unknown as { unref?(): void }[]) stream.unref?.();
    launcher.stdin.on('error', () => undefined); // a launcher gone: said by its exit below
    launcher.on('error', () => undefined);
    createInterface({ input: launcher.stdout }).on('line', (line) => this.answered(line));
    launcher.on('close', () => this.lost(launcher));
    return launcher;
  }

  private answered(line: string): void {
    let reply: LaunchReply;
    try {
      reply = JSON.parse(line) as LaunchReply;
    } catch {
      return; // not an answer: the launches wait for theirs, or for the launcher's end
    }
    const launch = this.pending.get(reply.id);
    if (!launch) return;
    if (reply.pid !== undefined) this.settle(launch, reply.pid);
    else this.settle(launch, new Error(reply.error ?? `the launcher answered ${line}`));
  }

  /** A launcher ended: the launches it had not answered go to the next one, at once. */
  private lost(launcher: ChildProcess): void {
    if (this.launcher === launcher) this.launcher = undefined;
    const unanswered = [...this.pending.values()].filter((launch) => launch.sentTo === launcher);
    for (const launch of unanswered) {
      if (launcher.pid === undefined) {
        this.settle(launch, new Error(`could not start the keeper launcher (${this.binary})`)); // nothing started
        continue;
      }
      launch.lostWith++;
      if (launch.lostWith >= LAUNCHERS_PER_LAUNCH) this.settle(launch, undefined);
      else this.send(launch);
    }
  }

  /**
   * Ends a launch. Once a launcher died with it in flight, its keeper may run whatever a later launcher answers:
   * undefined, never an error (the caller would remove the run's directory under it).
   */
  private settle(launch: PendingLaunch, outcome: number | Error | undefined): void {
    this.pending.delete(launch.request.id);
    if (launch.lostWith > 0) launch.resolve(undefined);
    else if (outcome instanceof Error) launch.reject(outcome);
    else launch.resolve(outcome);
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
