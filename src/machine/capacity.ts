/**
 * The machine's capacity ledger: the amounts of each counted resource its runs hold (runs of this worker, and
 * runs alive on the machine that no activity of it holds yet), so that runs never hold more than the machine has.
 */
import { machineRuns, type RunsDirs } from './machine-runs.js';
import type { RunSpec } from '../keeper/run-files.js';
import { formatMachineResources, shortfallOf, type MachineResources, type Resources } from '../model/requirements.js';

export const NO_RESOURCES: MachineResources = { counted: {}, capabilities: [] };

/** A task taken from a requirement queue whose run has not claimed its amounts yet: 1 unit of each counted name. */
export interface Placeholder {
  queue: string;
  units: string[];
  settled: boolean;
}

/** Why a run is handed back: the machine that took it cannot run it (another may). */
export class NoRoomError extends Error {}

export class ResourceLedger {
  private readonly held: Resources = {};
  /** Held by runs alive on this machine that no activity of this worker holds yet (left by a worker before it). */
  private leftOver: Resources = {};
  private readonly placeholders: Placeholder[] = [];
  private readonly waiting = new Set<Resources>();
  private listeners: (() => void)[] = [];

  /** Tasks of requirement queues taken and not finished; at most `maxTasks` (--slots), as on the shared queue. */
  private tasks = 0;

  constructor(
    readonly machine: MachineResources,
    private readonly maxTasks = Infinity,
  ) {}

  /** Whether another requirement task may be taken: fewer than --slots in hand. */
  hasTaskRoom(): boolean {
    return this.tasks < this.maxTasks;
  }

  taskStarted(): void {
    this.tasks++;
  }

  taskFinished(): void {
    this.tasks--;
    this.notify();
  }

  /** What runs hold, tasks just taken and runs waiting for units ask of `name`, against what the machine has. */
  private free(name: string): number {
    let used = (this.held[name] ?? 0) + (this.leftOver[name] ?? 0);
    for (const placeholder of this.placeholders) if (placeholder.units.includes(name)) used++;
    for (const needs of this.waiting) used += needs[name] ?? 0;
    return (this.machine.counted[name] ?? 0) - used;
  }

  /** Whether a task needing these names could start now: a free unit of each counted one. */
  hasUnitOfEach(names: readonly string[]): boolean {
    return names.every((name) => this.machine.counted[name] === undefined || this.free(name) >= 1);
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

  wake(): void {
    this.notify();
  }

  private notify(): void {
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }

  /** A task arrived on `queue`: until its run claims, it holds a unit of each counted name. */
  taskTaken(queue: string, names: readonly string[]): Placeholder {
    const placeholder = { queue, units: names.filter((name) => name in this.machine.counted), settled: false };
    this.placeholders.push(placeholder);
    return placeholder;
  }

  settle(placeholder: Placeholder): void {
    if (placeholder.settled) return;
    placeholder.settled = true;
    this.placeholders.splice(this.placeholders.indexOf(placeholder), 1);
    this.notify();
  }

  /**
   * Claims what a run needs, waiting (`wait` between checks) while runs here hold the units; a machine that
   * has too little in all cannot run it (NoRoomError). Returns the release.
   */
  async claim(queue: string, needs: Resources, wait: () => Promise<void>): Promise<() => void> {
    const placeholder = this.placeholders.find((candidate) => candidate.queue === queue);
    const shortfall = shortfallOf(needs, this.machine);
    if (shortfall.length) {
      if (placeholder) this.settle(placeholder);
      throw new NoRoomError(
        `needs ${shortfall.join(', ')}; this machine has ${formatMachineResources(this.machine) || 'no resources'}`,
      );
    }
    this.waiting.add(needs);
    if (placeholder) this.settle(placeholder);
    try {
      let change: Promise<void> | undefined; // one listener while waiting, not one per second
      while (!this.fits(needs)) {
        change ??= this.changed().then(() => {
          change = undefined;
        });
        await Promise.race([wait(), change]);
      }
    } finally {
      this.waiting.delete(needs);
    }
    return this.hold(needs);
  }

  private fits(needs: Resources): boolean {
    return Object.keys(needs).every(
      (name) =>
        this.machine.counted[name] === undefined ||
        (this.held[name] ?? 0) + (this.leftOver[name] ?? 0) + needs[name] <= this.machine.counted[name],
    );
  }

  /** Holds the amounts at once (an adopted run already uses them); returns the release. */
  hold(needs: Resources): () => void {
    const counted = Object.keys(needs).filter((name) => name in this.machine.counted);
    for (const name of counted) this.held[name] = (this.held[name] ?? 0) + needs[name];
    this.notify();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const name of counted) this.held[name] -= needs[name];
      this.notify();
    };
  }

  /** Sets what runs alive here, not held by this worker's activities, hold (from their run directories). */
  setLeftOver(resources: Resources): void {
    const changed = JSON.stringify(resources) !== JSON.stringify(this.leftOver);
    this.leftOver = resources;
    if (changed) this.notify();
  }

  /** What runs hold now, by counted name (for tests and the start line). */
  heldNow(): Resources {
    return { ...this.held };
  }
}

/** How often the run directories are read for runs this worker does not hold (yet). */
const LEFT_OVER_EVERY_MS = 2_000;

/** The amounts held by runs alive on this machine (keeper running) whose keys are not in `held`. */
export async function leftOverResources(runsDir: RunsDirs, held: ReadonlySet<string>): Promise<Resources> {
  const total: Resources = {};
  for await (const run of machineRuns(runsDir)) {
    if (!run.kept || held.has(run.runKey)) continue;
    const requires = (await run.files.readJson<RunSpec>(run.files.spec))?.requires ?? {};
    for (const [name, amount] of Object.entries(requires)) total[name] = (total[name] ?? 0) + amount;
  }
  return total;
}

/**
 * Keeps the ledger's left-over amounts up to date: a worker restarted beside a GPU run it has not adopted yet
 * must not start another. Read once before the first poll, then every 2 s.
 */
export async function watchLeftOverRuns(
  ledger: ResourceLedger,
  runsDir: RunsDirs,
  held: ReadonlySet<string>,
): Promise<{ stop(): void }> {
  if (!Object.keys(ledger.machine.counted).length) return { stop: () => undefined };
  ledger.setLeftOver(await leftOverResources(runsDir, held));
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    leftOverResources(runsDir, held)
      .then((resources) => ledger.setLeftOver(resources))
      .catch(() => undefined)
      .finally(() => (running = false));
  }, LEFT_OVER_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
