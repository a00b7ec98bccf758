/**
 * Which named units (GPU indices, ports) each run of this machine holds, across every worker of the machine and
 * its restarts: one claim file per unit and generation, `<runs root>/@units/<name>/<unit>.<generation>`, naming the
 * run directory that holds it (or `freed`). The latest generation says who holds the unit. A unit is taken by
 * creating the next generation with link(2), which fails when it exists: of two workers that judge a unit free at
 * once, exactly one gets it, and nobody ever deletes another's claim (a lock or a deleted stale claim could not say
 * that). A unit is free once its holder's directory says the run ended, or is gone (the orphan check stopped and
 * removed it): a lost run keeps its units while its processes may live.
 */
import { link, mkdir, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RunFiles, type ProcessIdentity, type RunExit } from '../keeper/run-files.js';
import { ownProcessIdentity, stillRunning } from '../keeper/process-identity.js';
import type { MachineResources, Resources } from '../model/requirements.js';
import type { RunUnits } from '../model/units.js';

interface Claim {
  /** The directory of the run holding the unit; absent in a `freed` generation. */
  runDir?: string;
  at: number;
  /** The worker process that claimed it for a start (absent in claims of staged before 2026-12). */
  claimant?: ProcessIdentity;
}

interface Generation {
  generation: number;
  claim: Claim | undefined;
}

/** A claim whose run directory is not there yet is a start under way for this long (as capacity.ts's STARTING_MS). */
const STARTING_MS = 10_000;
/** Older generations than this go: a worker never takes this long between reading a unit and claiming it. */
const TIDY_AFTER_MS = 10 * 60_000;

/** Writes by this process, to name each one's partial file. */
let partialWrites = 0;

export class UnitClaims {
  constructor(
    /** `<runs root>/units`: shared by every worker of the machine, whatever its server or queue. */
    private readonly dir: string,
    /** The units this worker hands out, by resource name (`--resources`). */
    readonly machine: RunUnits,
    /** Where the run of a run key lives (the worker's own runs directory). */
    private readonly runDirOf: (runKey: string) => string,
  ) {}

  /** The units `amounts` asks for of each named resource, taken for the run; undefined (none taken) when too few. */
  async claim(runKey: string, amounts: Resources): Promise<RunUnits | undefined> {
    const runDir = this.runDirOf(runKey);
    const taken: RunUnits = {};
    for (const [name, units] of Object.entries(this.machine)) {
      const wanted = amounts[name] ?? 0;
      if (!wanted) continue;
      taken[name] = [];
      for (const unit of units) {
        if (taken[name].length === wanted) break;
        if (await this.take(name, unit, runDir)) taken[name].push(unit);
      }
      if (taken[name].length < wanted) {
        await this.releaseFor(runDir, taken);
        return undefined;
      }
    }
    return taken;
  }

  /** An adopted run's units (from its spec) stay claimed for it; false when another live run holds one of them. */
  async keep(runKey: string, units: RunUnits): Promise<boolean> {
    let kept = true;
    for (const [name, list] of Object.entries(units)) {
      for (const unit of list) kept = (await this.take(name, unit, this.runDirOf(runKey))) && kept;
    }
    return kept;
  }

  /** Frees the run's units if its processes are surely gone: its directory says it ended, or is gone. */
  async releaseIfGone(runKey: string, units: RunUnits): Promise<void> {
    const runDir = this.runDirOf(runKey);
    if (await runGone(runDir)) await this.releaseFor(runDir, units);
  }

  /** The units a live run holds now, by name (read from the claim files). */
  async held(): Promise<RunUnits> {
    const held: RunUnits = {};
    for (const [name, units] of Object.entries(this.machine)) {
      held[name] = [];
      for (const unit of units) {
        const latest = await this.latest(name, unit);
        if (latest?.claim && !(await isFree(latest.claim))) held[name].push(unit);
      }
    }
    return held;
  }

  /** Frees units claimed for a run that will never use them (its start found the run holding others). */
  async release(runKey: string, units: RunUnits): Promise<void> {
    await this.releaseFor(this.runDirOf(runKey), units);
  }

  private async releaseFor(runDir: string, units: RunUnits): Promise<void> {
    for (const [name, list] of Object.entries(units)) {
      for (const unit of list) {
        const latest = await this.latest(name, unit);
        if (latest?.claim?.runDir === runDir) await this.create(name, unit, latest.generation + 1, { at: Date.now() });
      }
    }
  }

  /** Takes the unit for `runDir` unless a live run holds it; true when `runDir` holds it now. */
  private async take(name: string, unit: string, runDir: string): Promise<boolean> {
    for (;;) {
      const latest = await this.latest(name, unit);
      if (latest?.claim?.runDir === runDir) return true;
      if (latest && (!latest.claim || !(await isFree(latest.claim)))) return false;
      const next = (latest?.generation ?? 0) + 1;
      const claimant = ownProcessIdentity();
      if (await this.create(name, unit, next, { runDir, at: Date.now(), ...(claimant && { claimant }) })) {
        await this.tidy(name, unit, next);
        return true;
      }
      // another worker took this generation first: read again who holds the unit now
    }
  }

  /** Creates generation `generation` of the unit's claims, whole or not at all; false when it exists already. */
  private async create(name: string, unit: string, generation: number, claim: Claim): Promise<boolean> {
    const dir = path.join(this.dir, name);
    await mkdir(dir, { recursive: true });
    const partial = path.join(dir, `.${process.pid}-${++partialWrites}.partial`);
    await writeFile(partial, JSON.stringify(claim));
    try {
      await link(partial, path.join(dir, `${unit}.${generation}`));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await unlink(partial).catch(() => undefined);
    }
  }

  /** The unit's latest generation; its claim undefined when unreadable (counted as held: never guess a unit free). */
  private async latest(name: string, unit: string): Promise<Generation | undefined> {
    const generations = await this.generations(name, unit);
    if (!generations.length) return undefined;
    const generation = Math.max(...generations);
    const text = await readFile(path.join(this.dir, name, `${unit}.${generation}`), 'utf8').catch(() => undefined);
    let claim: Claim | undefined;
    try {
      claim = text === undefined ? undefined : (JSON.parse(text) as Claim);
    } catch {
      claim = undefined;
    }
    return { generation, claim };
  }

  private async generations(name: string, unit: string): Promise<number[]> {
    const prefix = `${unit}.`;
    const files = await readdir(path.join(this.dir, name)).catch(() => [] as string[]);
    return files.flatMap((file) => {
      const rest = file.startsWith(prefix) ? file.slice(prefix.length) : '';
      return /^\d+$/.test(rest) ? [Number(rest)] : [];
    });
  }

  /** Removes the unit's old generations below `latest`, once nobody can be about to claim on top of them. */
  private async tidy(name: string, unit: string, latest: number): Promise<void> {
    for (const generation of await this.generations(name, unit)) {
      if (generation >= latest - 1) continue;
      const file = path.join(this.dir, name, `${unit}.${generation}`);
      const info = await stat(file).catch(() => undefined);
      if (info && Date.now() - info.mtimeMs > TIDY_AFTER_MS) await rm(file, { force: true });
    }
  }
}

/** A unit's latest claim is free when it was freed, or its run surely has no process left. */
async function isFree(claim: Claim): Promise<boolean> {
  if (claim.runDir === undefined) return true;
  if (Date.now() - claim.at < STARTING_MS && !(await exists(claim.runDir))) return false; // being started
  return (await runGone(claim.runDir)) || startAbandoned(claim.runDir, claim.claimant);
}

/**
 * A start whose worker died before its keeper recorded the run's start (killed between creating the directory and
 * launching the keeper): free once its lease is older than the lease timeout, as a keeper launched by then would
 * have written `state.json` or stopped itself for want of a renewed lease.
 */
async function startAbandoned(runDir: string, claimant: ProcessIdentity | undefined): Promise<boolean> {
  if (!claimant || stillRunning(claimant)) return false;
  const files = new RunFiles(runDir);
  if (await exists(files.state)) return false;
  const renewedAt = (await files.leaseRenewedAt()) ?? (await stat(runDir).catch(() => undefined))?.mtimeMs;
  const leaseTimeoutMs = (await files.readSpec())?.leaseTimeoutMs ?? 0; // no spec: no keeper
  return renewedAt === undefined || Date.now() - renewedAt > leaseTimeoutMs;
}

/** The run's keeper recorded its end, or its directory is gone (a failed start, or the orphan check removed it). */
/** Its end is recorded and none of its processes outlived the stop (one in uninterruptible sleep still holds a GPU). */
async function runGone(runDir: string): Promise<boolean> {
  const files = new RunFiles(runDir);
  const exit = await files.readJson<RunExit>(files.exit).catch(() => ({}) as RunExit); // being written: ended
  if (exit) return !(exit.survivors ?? []).some(stillRunning);
  return !(await exists(runDir));
}

function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** The units a run's spec says it holds (a run started before units, or holding none: undefined). */
export async function unitsInSpec(files: RunFiles): Promise<RunUnits | undefined> {
  return (await files.readSpec())?.units;
}

/**
 * Where the machine's unit claims live: under the runs root, as a device is the machine's whatever server or queue
 * runs on it; `@` is never in a queue's directory name (encoded), so no legacy runs directory can be this one.
 */
export const UNITS_DIR = '@units';

export function unitClaimsOf(runsRoot: string, machine: MachineResources, runsDir: string): UnitClaims | undefined {
  if (!machine.units) return undefined;
  return new UnitClaims(path.join(runsRoot, UNITS_DIR), machine.units, (runKey) => path.join(runsDir, runKey));
}
