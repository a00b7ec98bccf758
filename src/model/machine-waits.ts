/**
 * Which started experiments of a batch wait for a machine that has what they require: the batch lets them hold no
 * `maxConcurrent` place, so experiments that can run take it. Workflow-safe and pure (the clock is the workflow's).
 */
import { isFinal } from './batch-state.js';
import type { BatchState } from './types.js';

/** How long a started experiment that requires resources waits for a machine before it frees its place. */
export const MACHINE_WAIT_FREES_PLACE_MS = 5_000;

/**
 * Which started experiments wait for a machine that has what they require (`Requires:`): queued for longer than
 * `MACHINE_WAIT_FREES_PLACE_MS`. Until then they hold their place, so a run that gets its machine at once is counted.
 * When a run of the batch that held resources stops, the first experiment waiting for one of them holds its place
 * again for that long: it may get the machine now, and must not run beyond `maxConcurrent`.
 */
export class MachineWaits {
  private readonly queuedSince = new Map<number, number>();
  /** Experiments queued before this run of the workflow (a continue-as-new) are counted from its start. */
  private readonly since: number;
  /** Experiments whose last run has stopped (ended or waiting to retry): their resources are free. */
  private readonly stopped = new Set<number>();

  constructor(
    private readonly state: BatchState,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.since = now();
  }

  note(index: number): void {
    if (!this.queuedForMachine(index)) this.queuedSince.delete(index);
    else if (!this.queuedSince.has(index)) this.queuedSince.set(index, this.now());
    const status = this.state.records[index]?.status;
    if (!(isFinal(status) || status === 'retrying')) this.stopped.delete(index);
    else if (!this.stopped.has(index)) {
      this.stopped.add(index);
      this.resourcesFreed(index);
    }
  }

  /** The experiment's run exited and gave its place back before the experiment ended: its resources are free. */
  runStopped(index: number): void {
    if (this.stopped.has(index)) return;
    this.stopped.add(index);
    this.resourcesFreed(index);
  }

  readonly waitsForMachine = (index: number): boolean =>
    this.queuedForMachine(index) && this.waitedMs(index) >= MACHINE_WAIT_FREES_PLACE_MS;

  /** When the next experiment queued for a machine stops holding its place; undefined when none will. */
  nextChangeMs(): number | undefined {
    let next: number | undefined;
    for (let index = 0; index < this.state.nextIndex; index++) {
      if (!this.queuedForMachine(index)) continue;
      const left = MACHINE_WAIT_FREES_PLACE_MS - this.waitedMs(index);
      if (left > 0) next = Math.min(next ?? left, left);
    }
    return next;
  }

  private resourcesFreed(index: number): void {
    const freed = Object.keys(this.state.experiments[index].requires ?? {});
    if (!freed.length) return;
    for (let waiting = 0; waiting < this.state.nextIndex; waiting++) {
      const needs = this.state.experiments[waiting].requires ?? {};
      if (this.waitsForMachine(waiting) && freed.some((name) => name in needs)) {
        this.queuedSince.set(waiting, this.now());
        return;
      }
    }
  }

  private queuedForMachine(index: number): boolean {
    return (
      Boolean(this.state.experiments[index].requires) &&
      this.state.records[index]?.status === 'queued' &&
      !this.state.deferred?.includes(index)
    );
  }

  private waitedMs(index: number): number {
    return this.now() - (this.queuedSince.get(index) ?? this.since);
  }
}
