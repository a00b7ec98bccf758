/**
 * The machine's capacity ledger: what runs hold of each counted resource, `--slots` among them (a run holds one
 * slot), so that runs never hold more than the machine has and a full machine leaves its tasks to other workers.
 * This worker's runs are held by run key; runs alive here that it does not hold (left by a worker before it and
 * not adopted yet, or run by another worker of this machine) are read from their run directories.
 */
import { stat } from 'node:fs/promises';
import { machineRuns, type MachineRun, type RunsDirs } from './machine-runs.js';
import { formatMachineResources, shortfallOf, type MachineResources, type Resources } from '../model/requirements.js';
import type { RunUnits } from '../model/units.js';
import type { UnitClaims } from './units.js';

export const NO_RESOURCES: MachineResources = { counted: {}, capabilities: [] };

/** The counted name of `--slots`. Resource names start with a letter, so no `--resources` name is this one. */
export const SLOTS = '--slots';

/** A task taken from a gated queue whose run has not claimed yet: a slot and 1 unit of each counted name. */
export interface Placeholder {
  queue: string;
  units: string[];
  settled: boolean;
}

/** The amounts of the runs alive here that this worker does not hold, by run key. */
type LeftOverRuns = ReadonlyMap<string, Resources>;

/** Reads the runs alive on the machine, leaving out those `isHeld` says this worker holds. */
type LeftOverReader = (isHeld: (runKey: string) => boolean) => Promise<LeftOverRuns>;

/** Why a run is handed back: the machine that took it cannot run it (another may). */
export class NoRoomError extends Error {}

interface Hold {
  runKey: string;
  amounts: Resources;
  /** The named units it holds (machine/units.ts); absent when it holds none. */
  units?: RunUnits;
}

export class CapacityLedger {
  /** What the machine has of each counted name, its slots included. */
  private readonly capacity: Resources;
  private readonly holds = new Set<Hold>();
  private leftOver: LeftOverRuns = new Map();
  private readonly placeholders: Placeholder[] = [];
  private readonly waiting = new Set<Resources>();
  private listeners: (() => void)[] = [];
  private reading?: Promise<void>;
  /** Since when a slot has been free without a break; undefined while every slot is held, taken or waited for. */
  private slotFreeSince: number | undefined = Date.now();

  constructor(
    /** What the worker declared (`--resources`): it routes runs to this machine. */
    readonly machine: MachineResources,
    slots: number,
    /** Without one, left-over runs are only what `setLeftOver` gives. */
    private readonly readLeftOver?: LeftOverReader,
    /** Hands out the machine's named units (GPU indices, ports); without it, amounts only. */
    private readonly units?: UnitClaims,
  ) {
    this.capacity = { ...machine.counted, [SLOTS]: slots };
  }

  /** The one decision to take another task needing these names: a free slot and a free unit of each counted one. */
  mayTake(names: readonly string[]): boolean {
    return [SLOTS, ...names].every((name) => this.capacity[name] === undefined || this.free(name) >= 1);
  }

  /** What runs hold (this worker's and left-over ones), tasks just taken and runs waiting ask of `name`, unused. */
  private free(name: string): number {
    let used = this.holding(name);
    for (const placeholder of this.placeholders) if (placeholder.units.includes(name)) used++;
    for (const needs of this.waiting) used += needs[name] ?? 0;
    return this.capacity[name] - used;
  }

  /** What runs alive here hold of `name`: a run this worker holds counts once, however its directory reads. */
  private holding(name: string): number {
    let used = 0;
    for (const { amounts } of this.holds) used += amounts[name] ?? 0;
    for (const [runKey, amounts] of this.leftOver) if (!this.holdsRun(runKey)) used += amounts[name] ?? 0;
    return used;
  }

  private holdsRun(runKey: string): boolean {
    return [...this.holds].some((hold) => hold.runKey === runKey);
  }

  /** Resolves on the next change of what is held or free; rejects when `signal` aborts. */
  changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.listeners = this.listeners.filter((listener) => listener !== done);
        reject(signal!.reason as Error); // the SDK expects an aborted reservation to end with the abort's reason
      };
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.listeners.push(done);
    });
  }

  /**
   * Whether a slot has been free for at least `ms` without a break. This worker polls whenever a slot is free, and the
   * server hands a waiting task to a waiting poll at once: after that long, no run waits for a slot on its queues.
   */
  slotFreeFor(ms: number): boolean {
    this.noteFreeSlot();
    return this.slotFreeSince !== undefined && Date.now() - this.slotFreeSince >= ms;
  }

  private noteFreeSlot(): void {
    if (this.free(SLOTS) < 1) this.slotFreeSince = undefined;
    else this.slotFreeSince ??= Date.now();
  }

  wake(): void {
    this.noteFreeSlot();
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }

  /** A run's task arrived on `queue`: until its run claims, it holds a slot and a unit of each counted name. */
  taskTaken(queue: string, names: readonly string[]): Placeholder {
    const units = [SLOTS, ...names.filter((name) => name in this.machine.counted)];
    const placeholder = { queue, units, settled: false };
    this.placeholders.push(placeholder);
    this.wake();
    return placeholder;
  }

  /**
   * A run task of `queue` ended without claiming (its script refused, handed back, failed early): one placeholder
   * of the queue goes. Placeholders of a queue are alike, so which one does not matter; their number does.
   */
  unclaimed(queue: string): void {
    const placeholder = this.placeholders.find((candidate) => candidate.queue === queue);
    if (placeholder) this.settle(placeholder);
  }

  settle(placeholder: Placeholder): void {
    if (placeholder.settled) return;
    placeholder.settled = true;
    this.placeholders.splice(this.placeholders.indexOf(placeholder), 1);
    this.wake();
  }

  /**
   * Claims a slot and what the run requires, waiting (`wait` between checks) while runs here hold them; a machine
   * that has too little in all cannot run it (NoRoomError). Returns the release.
   */
  async claim(runKey: string, queue: string, requires: Resources, wait: () => Promise<void>): Promise<() => void> {
    const placeholder = this.placeholders.find((candidate) => candidate.queue === queue);
    const shortfall = shortfallOf(requires, this.machine);
    if (shortfall.length) {
      if (placeholder) this.settle(placeholder);
      throw new NoRoomError(
        `needs ${shortfall.join(', ')}; this machine has ${formatMachineResources(this.machine) || 'no resources'}`,
      );
    }
    const needs = this.amountsOf(requires);
    this.waiting.add(needs);
    if (placeholder) this.settle(placeholder);
    try {
      await this.readRunsHere(); // another worker of this machine may have started runs since the last read
      let tick: Promise<void> | undefined; // one wait and one listener at a time, not one per change
      let change: Promise<void> | undefined;
      for (;;) {
        while (!this.fits(needs)) {
          tick ??= wait()
            .then(() => this.readRunsHere())
            .then(() => {
              tick = undefined;
            });
          change ??= this.changed().then(() => {
            change = undefined;
          });
          await Promise.race([tick, change]);
        }
        const hold: Hold = { runKey, amounts: needs }; // held at once: no other claim may count these amounts free
        this.waiting.delete(needs); // counted by its hold now, not twice while its units are claimed
        const release = this.addHold(hold);
        if (!this.units) return release;
        const units = await this.units.claim(runKey, needs).catch((err: unknown) => {
          release();
          throw err;
        });
        if (units) {
          if (Object.keys(units).length) hold.units = units;
          return release;
        }
        this.waiting.add(needs); // before the release: no poll may count its amounts free meanwhile
        release(); // another worker of this machine holds the units its amounts leave free: wait for one to end
        await wait();
        await this.readRunsHere();
      }
    } finally {
      if (this.waiting.delete(needs)) this.wake(); // given up while it waited: a poll it held back may go on
    }
  }

  /**
   * A start that found its run already started here (by a worker lost before the server heard of it): the run holds
   * the units its spec names, not the ones just claimed for it, which go back at once (none are in use).
   */
  async keepUnitsOfSpec(runKey: string, specUnits: RunUnits | undefined): Promise<void> {
    const hold = [...this.holds].find((candidate) => candidate.runKey === runKey);
    if (!hold || !this.units) return;
    const fresh = hold.units ?? {};
    const unused = Object.fromEntries(
      Object.entries(fresh).map(([name, list]) => [name, list.filter((unit) => !specUnits?.[name]?.includes(unit))]),
    );
    if (specUnits) await this.units.keep(runKey, specUnits);
    await this.units.release(runKey, unused);
    if (specUnits) hold.units = specUnits;
    else delete hold.units;
    this.wake();
  }

  /** The named units the run holds here (GPU indices, ports); undefined when none. */
  unitsOf(runKey: string): RunUnits | undefined {
    return [...this.holds].find((hold) => hold.runKey === runKey)?.units;
  }

  private fits(needs: Resources): boolean {
    return Object.keys(needs).every((name) => this.holding(name) + needs[name] <= this.capacity[name]);
  }

  /** A slot and the counted amounts of `requires`. */
  private amountsOf(requires: Resources): Resources {
    const amounts: Resources = { [SLOTS]: 1 };
    for (const name of Object.keys(requires)) if (name in this.machine.counted) amounts[name] = requires[name];
    return amounts;
  }

  /**
   * Holds the run's slot, amounts and units (from its spec) at once: an adopted run already uses them here.
   * Returns the release.
   */
  hold(runKey: string, requires: Resources, units?: RunUnits): () => void {
    if (units && this.units) void this.units.keep(runKey, units).catch(() => undefined);
    return this.addHold({ runKey, amounts: this.amountsOf(requires), ...(units ? { units } : {}) });
  }

  /** The release frees the hold's units only once its run surely has no process left (units.ts). */
  private addHold(hold: Hold): () => void {
    this.holds.add(hold);
    this.wake();
    return () => {
      if (!this.holds.delete(hold)) return;
      if (hold.units && this.units) void this.units.releaseIfGone(hold.runKey, hold.units).catch(() => undefined);
      this.wake();
    };
  }

  /** Sets the runs alive here that this worker does not hold (from their run directories). */
  setLeftOver(runs: LeftOverRuns): void {
    const changed = JSON.stringify([...runs]) !== JSON.stringify([...this.leftOver]);
    this.leftOver = runs;
    if (changed) this.wake();
  }

  /** Reads the run directories again (one read at a time: a caller during a read waits for that one). */
  readRunsHere(): Promise<void> {
    if (!this.readLeftOver) return Promise.resolve();
    this.reading ??= this.readLeftOver((runKey) => this.holdsRun(runKey))
      .then((runs) => this.setLeftOver(runs))
      .catch(() => undefined) // the last read stands until the next one works
      .finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** What runs alive here hold now, by counted name. */
  heldNow(): Resources {
    return Object.fromEntries(Object.keys(this.capacity).map((name) => [name, this.holding(name)]));
  }
}

/** A run directory younger than this without a keeper is being started. */
const STARTING_MS = 10_000;

/**
 * The runs alive in these run directories (a live keeper, or a start under way) that `isHeld` leaves out:
 * a slot each, and what their `spec.json` says they require.
 */
export async function leftOverRuns(runsDirs: RunsDirs, isHeld: (runKey: string) => boolean): Promise<LeftOverRuns> {
  const runs = new Map<string, Resources>();
  for await (const run of machineRuns(runsDirs, (runKey) => !isHeld(runKey))) {
    if (!(await isAlive(run))) continue;
    const requires = (await run.files.readSpec())?.requires ?? {};
    runs.set(run.runKey, { [SLOTS]: 1, ...requires });
  }
  return runs;
}

async function isAlive(run: MachineRun): Promise<boolean> {
  if (run.ended) return false;
  if (run.started) return run.kept;
  const info = await stat(run.files.dir).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs < STARTING_MS;
}

/** How often the run directories are read for runs this worker does not hold (yet). */
const LEFT_OVER_EVERY_MS = 2_000;

/**
 * Keeps the ledger's left-over runs up to date: a worker restarted beside runs it has not adopted yet must not
 * start more than the machine has room for. Read once before the first poll, then every 2 s.
 */
export async function watchLeftOverRuns(ledger: CapacityLedger): Promise<{ stop(): void }> {
  await ledger.readRunsHere();
  const timer = setInterval(() => void ledger.readRunsHere(), LEFT_OVER_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
