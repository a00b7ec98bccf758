/**
 * A run's directory on its machine: how the worker and the run's keeper (keeper/, in Go) talk. The keeper writes
 * `state.json`, `progress.json`, `frozen.json` and, last, `exit.json`; the worker writes `spec.json`, renews `lease`
 * and writes or removes `freeze` (`pause <batchId> <exp>`).
 * Files, not a socket: they outlive both processes, so a restarted worker finds its runs again.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Progress, ProgressMark } from '../model/progress.js';
import type { RunWarning } from './warn-signal.js';

/** What the keeper runs and how; written once by the worker before the keeper starts. */
export interface RunSpec {
  /** Names the run's cgroup and marker (runIdOf); a run started by staged before 2026-12-07 holds its run key. */
  runId: string;
  file: string;
  args: string[];
  cwd: string;
  logFile: string;
  logLimitBytes: number;
  /** Past this, the run is stopped as timed out; null: no limit. */
  timeoutMs: number | null;
  killGraceMs: number;
  /** The keeper stops the run when its lease has not been renewed for this long. */
  leaseTimeoutMs: number;
  /** The run's secret for the quota agent and the quotas it may draw from (re-registered by an adopting worker). */
  quota?: Omit<RunQuota, 'quotas'> & {
    /** Names; a run started before the budgets owned their quotas holds its batch's declarations, by name. */
    quotas: string[] | Record<string, unknown>;
  };
  /** Machine resources the run holds (`Requires:`): a worker restarted here counts them before adopting it. */
  requires?: Record<string, number>;
  /** `--signal-before`: the signal sent to the main process once, `beforeMs` before `timeoutMs` stops it. */
  warning?: RunWarning;
  /** The named units the run holds (GPU indices, ports: machine/units.ts), by resource name; absent when none. */
  units?: Record<string, string[]>;
}

/** What the quota agent knows of a run: its secret, the quotas it may draw from, and its socket link. */
export interface RunQuota {
  token: string;
  experiment: string;
  quotas: string[];
  /** The run's STAGED_QUOTA_SOCKET: a link its holder points at its own agent (absent: started before links). */
  socket?: string;
}

/** The quota part of a run's spec, whichever release wrote it. */
export function runQuotaOf(spec: RunSpec | undefined): RunQuota | undefined {
  const quota = spec?.quota;
  if (!quota) return undefined;
  return { ...quota, quotas: Array.isArray(quota.quotas) ? quota.quotas : Object.keys(quota.quotas) };
}

export type KillMode = 'cgroup' | 'process-scan';

export interface RunStarted {
  keeperPid: number;
  /** Who the keeper is, beyond its pid (absent in runs started by staged before 2026-12). */
  keeper?: ProcessIdentity;
  pid: number;
  startedAt: number;
  killMode: KillMode;
  /** What a stop of the run reads in its spec, kept here should the spec go (absent before 2026-12-08). */
  runId?: string;
  killGraceMs?: number;
  logFile?: string;
}

/** A process told from a later one with its pid: when it started (clock ticks since boot) and on which boot. */
export interface ProcessIdentity {
  pid: number;
  startTicks: number;
  bootId: string;
}

/**
 * Why a run ended: its main process exited, or the keeper stopped it (and why). `terminated`: its keeper was
 * sent SIGTERM that no worker explained (no stop reason, not left for adoption): a failed attempt.
 */
export type RunEnd = 'exited' | 'timeout' | 'cancelled' | 'shutdown' | 'abandoned' | 'terminated' | 'spawn-failed';

export interface RunExit {
  end: RunEnd;
  exitCode: number | null;
  signal: string | null;
  endedAt: number;
  /** The last lines of output, for the failure message. */
  tail: string[];
  /** Why the process could not be started (spawn-failed), or what stopped it (terminated). */
  error?: string;
  /** The run's processes still there when its stop gave up, 5 s after their SIGKILL; absent when none was left. */
  survivors?: ProcessIdentity[];
}

/** The keeper's record of a run's freeze (`frozen.json`): since when it is frozen, and the frozen time before. */
export interface FrozenRecord {
  /** When the current freeze began; null while the run is not frozen. */
  since: number | null;
  /** Milliseconds frozen in spans that have ended. */
  endedSpansMs: number;
}

export interface RunProgress {
  progress: Progress;
  progressAt: number;
  /** The run's frozen time up to `progressAt`; absent from keepers of staged before 2026-12-07. */
  frozenMs?: number;
  /** Absent from keepers of staged before 2026-12-06. */
  firstProgress?: ProgressMark;
}

/** One directory per run of an experiment: its workflow id (which holds a `/`) and run number. */
export function runKeyOf(workflowId: string, run: number): string {
  return `${encodeURIComponent(workflowId)}.run-${run}`;
}

/** What `runKeyOf` made (`run` absent from a key of the legacy layout, a bare workflow id). */
export function parseRunKey(runKey: string): { workflowId: string; run?: number } {
  const match = /^(.*)\.run-(\d+)$/.exec(runKey);
  const encoded = match ? match[1] : runKey;
  let workflowId = encoded;
  try {
    workflowId = decodeURIComponent(encoded);
  } catch {
    // not made by runKeyOf: the name as it is
  }
  return match ? { workflowId, run: Number(match[2]) } : { workflowId };
}

/** A cgroup's name is a file name (255 bytes at most); a run key is ASCII. */
const RUN_ID_KEY_CHARS = 240;

/**
 * A new run's id, unique on its machine: its run key, readable in the cgroup tree, and a digest of its directory,
 * since two setups on one machine (two servers, two runs directories) give a batch id's runs the same key.
 */
export function runIdOf(runDir: string): string {
  const digest = createHash('sha256').update(path.resolve(runDir)).digest('hex').slice(0, 8);
  return `${path.basename(runDir).slice(0, RUN_ID_KEY_CHARS)}.${digest}`;
}

/** Writes started by this process, to name each one's partial file. */
let partialWrites = 0;

export class RunFiles {
  readonly spec: string;
  readonly state: string;
  readonly progress: string;
  readonly exit: string;
  readonly lease: string;
  /** Why the worker asked the keeper to stop (read when the keeper gets SIGTERM). */
  readonly stopReason: string;
  /** Written by a worker that lets go of the run and leaves it for adoption (a SIGTERM then is not a stop). */
  readonly leftMark: string;
  /** The worker process holding the run, written when it starts or adopts it (machine/run-holder.ts). */
  readonly holder: string;
  readonly keeperLog: string;
  /** Present while the run is to be frozen (written by any worker of the machine, as adoption can be). */
  readonly freezeRequest: string;
  /** The keeper's record of the freeze: a FrozenRecord. */
  readonly frozen: string;

  constructor(readonly dir: string) {
    this.spec = path.join(dir, 'spec.json');
    this.state = path.join(dir, 'state.json');
    this.progress = path.join(dir, 'progress.json');
    this.exit = path.join(dir, 'exit.json');
    this.lease = path.join(dir, 'lease');
    this.stopReason = path.join(dir, 'stop');
    this.leftMark = path.join(dir, 'left');
    this.holder = path.join(dir, 'holder.json');
    this.keeperLog = path.join(dir, 'keeper.log');
    this.freezeRequest = path.join(dir, 'freeze');
    this.frozen = path.join(dir, 'frozen.json');
  }

  static of(runsRoot: string, runKey: string): RunFiles {
    return new RunFiles(path.join(runsRoot, runKey));
  }

  /** Creates the directory; false when it already existed (the run was started here before). */
  async claim(): Promise<boolean> {
    await mkdir(path.dirname(this.dir), { recursive: true });
    try {
      await mkdir(this.dir);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  exists(): Promise<boolean> {
    return stat(this.dir).then(
      () => true,
      () => false,
    );
  }

  readJson<T>(file: string): Promise<T | undefined> {
    return readFile(file, 'utf8').then(
      (text) => JSON.parse(text) as T,
      () => undefined,
    );
  }

  /**
   * The run's spec; undefined when it is missing or unreadable (disk trouble, a user's rm): its keeper read it as it
   * started, so the run goes on, and what the worker reads in it (quota secret, units, requirements) is unknown.
   */
  readSpec(): Promise<RunSpec | undefined> {
    return this.readJson<RunSpec>(this.spec).catch(() => undefined);
  }

  /** Why the spec cannot be read (missing, not JSON); undefined when it can. */
  async specProblem(): Promise<string | undefined> {
    try {
      JSON.parse(await readFile(this.spec, 'utf8'));
      return undefined;
    } catch (err) {
      return err instanceof SyntaxError ? `${this.spec}: ${err.message}` : (err as Error).message;
    }
  }

  /**
   * What names the run's cgroup and marker: its spec's runId, or state.json's should the spec be gone; its run key for
   * a run that has neither.
   */
  async runId(): Promise<string> {
    const fromSpec = (await this.readSpec())?.runId;
    if (fromSpec) return fromSpec;
    const started = await this.readJson<RunStarted>(this.state).catch(() => undefined);
    return started?.runId || path.basename(this.dir);
  }

  async writeJson(file: string, value: unknown): Promise<void> {
    // A name of its own per write: two writes of one file at once (a slow one overtaken) never share a partial file.
    const partial = `${file}.${process.pid}-${++partialWrites}.partial`;
    await writeFile(partial, JSON.stringify(value));
    await rename(partial, file);
  }

  /** Renews the lease as of `at`: the last moment the worker knew the server could reach it. */
  async renewLease(at: number): Promise<void> {
    const seconds = at / 1000;
    await utimes(this.lease, seconds, seconds).catch(async () => {
      await writeFile(this.lease, '');
      await utimes(this.lease, seconds, seconds);
    });
  }

  freezeRequested(): Promise<boolean> {
    return stat(this.freezeRequest).then(
      () => true,
      () => false,
    );
  }

  async leaseRenewedAt(): Promise<number | undefined> {
    return stat(this.lease).then(
      (info) => info.mtimeMs,
      () => undefined,
    );
  }
}
