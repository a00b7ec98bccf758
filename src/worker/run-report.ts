/**
 * What a worker says about the runs it does not start: those its graceful stop leaves for adoption or stops (one line
 * per stop), and those alive on its machine when it starts (left by an earlier worker, or another live worker's).
 */
import type { ShutdownMode } from '../activities/index.js';
import { runNameOf, type RunsFound } from '../machine/runs-found.js';

/** Runs named in one line; the others are counted. */
const NAMED_RUNS = 5;

/** `a (run 1), b (run 2) and 3 more`. */
export function namedRuns(names: readonly string[]): string {
  const named = [...names].sort().slice(0, NAMED_RUNS).join(', ');
  return names.length > NAMED_RUNS ? `${named} and ${names.length - NAMED_RUNS} more` : named;
}

function runs(count: number): string {
  return count === 1 ? '1 run' : `${count} runs`;
}

/** The runs a graceful stop let go of, by what it did with them; its one line once the stop is done. */
export class ShutdownRuns {
  private readonly done: Record<ShutdownMode, string[]> = { leave: [], stop: [] };

  /** For the activities (ActivityOptions.onShutdownDone). */
  readonly add = (runKey: string, how: ShutdownMode): void => {
    this.done[how].push(runNameOf(runKey));
  };

  /** Undefined when the stop let go of no run. */
  line(): string | undefined {
    const { leave, stop } = this.done;
    const parts = [
      ...(leave.length
        ? [`left ${runs(leave.length)} running for the next worker on this machine to adopt: ${namedRuns(leave)}`]
        : []),
      ...(stop.length
        ? [`stopped ${runs(stop.length)} (--on-shutdown stop; each runs again): ${namedRuns(stop)}`]
        : []),
    ];
    return parts.length ? parts.join('; ') : undefined;
  }
}

/** One line for the runs left by an earlier worker, one per live worker holding runs here. */
export function foundRunsLines({ left, heldByOthers }: RunsFound): string[] {
  return [
    ...(left.length
      ? [`adopting ${runs(left.length)} left by an earlier worker on this machine: ${namedRuns(left)}`]
      : []),
    ...[...heldByOthers].map(
      ([pid, names]) =>
        `${runs(names.length)} alive here ${names.length === 1 ? 'is' : 'are'} held by another live worker ` +
        `of this machine (pid ${pid}), not this one: ${namedRuns(names)}`,
    ),
  ];
}
