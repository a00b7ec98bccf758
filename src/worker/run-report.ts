/**
 * What a worker says about the runs it does not start: those its graceful stop leaves for adoption or stops (one line
 * per stop), those alive on its machine when it starts (left by an earlier worker, or another live worker's), those
 * it adopts, once it holds them (one line per adoptions close together), and those it finds lost: their keeper died
 * while no worker held them, so what they left is stopped and they run again instead of being adopted, or while it
 * held them itself.
 */
import type { LetGoCause, NotStoppableWhen, ShutdownMode } from '../activities/index.js';
import { runNameOf, type RunsFound } from '../machine/runs-found.js';
import { runIdOf } from '../keeper/run-files.js';
import type { RunNotStoppableError } from '../machine/stop-left-run.js';

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

/**
 * One line for the runs left by an earlier worker, one per live worker holding runs here. A left run is said to be
 * adopted only by the worker that takes hold of it (AdoptedRuns): two workers starting together both find it left.
 */
export function foundRunsLines({ left, heldByOthers }: RunsFound): string[] {
  return [
    ...(left.length
      ? [
          `${runs(left.length)} left by an earlier worker on this machine ${left.length === 1 ? 'waits' : 'wait'} ` +
            `to be adopted: ${namedRuns(left)}`,
        ]
      : []),
    ...[...heldByOthers].map(
      ([pid, names]) =>
        `${runs(names.length)} alive here ${names.length === 1 ? 'is' : 'are'} held by another live worker ` +
        `of this machine (pid ${pid}), not this one: ${namedRuns(names)}`,
    ),
  ];
}

/** Adoptions begun within this time of the first are said in one line: a stopped worker's runs come together. */
const ADOPTIONS_GATHERED_MS = 1_000;

/** The runs this worker adopts, said once it holds them: at its start as later in its life (LostRuns for lost ones). */
export class AdoptedRuns {
  private readonly byEarlier: string[] = [];
  private readonly again: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly say: (line: string) => void,
    private readonly gatheredMs = ADOPTIONS_GATHERED_MS,
  ) {}

  /** For the activities (ActivityOptions.onAdopt): `letGoHere` when this worker process held the run before. */
  readonly add = (runKey: string, letGoHere: boolean): void => {
    const name = runNameOf(runKey);
    (letGoHere ? this.again : this.byEarlier).push(name);
    this.timer ??= setTimeout(() => this.flush(), this.gatheredMs).unref();
  };

  /** Says the adoptions gathered so far, if any (also as the worker stops). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const line = adoptedRunsLine(this.byEarlier.splice(0), this.again.splice(0));
    if (line !== undefined) this.say(line);
  }
}

/** Undefined when it adopted none. */
export function adoptedRunsLine(byEarlier: readonly string[], again: readonly string[]): string | undefined {
  const parts = [
    ...(byEarlier.length
      ? [`adopting ${runs(byEarlier.length)} left by an earlier worker on this machine: ${namedRuns(byEarlier)}`]
      : []),
    ...(again.length ? [`adopting again ${runs(again.length)} this worker let go of: ${namedRuns(again)}`] : []),
  ];
  return parts.length ? parts.join('; ') : undefined;
}

/** Runs told within this time of the first are said in one line: the runs of one dead worker, or of one sleep. */
const RUNS_GATHERED_MS = 1_000;

/** Runs said in one line (`line`) once told within `gatheredMs` of each other; each said once when `onceEach`. */
class GatheredRuns {
  private readonly gathered: string[] = [];
  private readonly said = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly say: (line: string) => void,
    private readonly line: (names: readonly string[]) => string,
    private readonly onceEach: boolean,
    private readonly gatheredMs = RUNS_GATHERED_MS,
  ) {}

  readonly add = (runKey: string): void => {
    if (this.onceEach && this.said.has(runKey)) return;
    if (this.onceEach) this.said.add(runKey);
    this.gathered.push(runNameOf(runKey));
    this.timer ??= setTimeout(() => this.flush(), this.gatheredMs).unref();
  };

  /** Says the runs gathered so far, if any (also as the worker stops). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const names = this.gathered.splice(0);
    if (names.length) this.say(this.line(names));
  }
}

/**
 * The runs whose keeper died while no worker held them, said once each: the orphan check stops what they left and
 * records them abandoned, and their experiment's adoption then reads them as lost (run again, no retry used).
 */
export class LostRuns extends GatheredRuns {
  constructor(say: (line: string) => void, gatheredMs?: number) {
    super(say, lostRunsLine, true, gatheredMs);
  }
}

/**
 * The runs whose keeper died while this worker held them (killed with its guard: systemd's SIGKILL of a service, the
 * OOM killer): what they left is stopped and recorded abandoned, and each runs again (no retry used). Said once each.
 */
export class LostWhileHeldRuns extends GatheredRuns {
  constructor(say: (line: string) => void, gatheredMs?: number) {
    super(say, (names) => lostRunsLine(names, true), true, gatheredMs);
  }
}

/** `whileHeld`: the keeper died while this worker held the run, not while no worker did (then it is not adopted). */
export function lostRunsLine(names: readonly string[], whileHeld = false): string {
  const one = names.length === 1;
  const when = whileHeld ? ` while this worker held ${one ? 'it' : 'them'}` : '';
  return (
    `${runs(names.length)} lost: ${one ? 'its' : 'their'} keeper died without recording an end${when}; what ` +
    `${one ? 'it' : 'they'} left is stopped and ${one ? 'it runs' : 'each runs'} again (no retry used)` +
    `${whileHeld ? '' : ', not adopted'}: ${namedRuns(names)}`
  );
}

/** Lines said before `release` wait for it, in order; then each is said at once. */
export class HeldBackLines {
  private waiting: string[] | undefined = [];

  constructor(private readonly sayNow: (line: string) => void) {}

  readonly say = (line: string): void => {
    if (this.waiting) this.waiting.push(line);
    else this.sayNow(line);
  };

  release(): void {
    const waiting = this.waiting ?? [];
    this.waiting = undefined;
    for (const line of waiting) this.sayNow(line);
  }
}

/**
 * The runs this worker lets go of because the server gave up on their activities (no heartbeat reached it in
 * time: the machine slept, or was cut off): they keep running here under their keepers, to be adopted again.
 * Said when it lets go of them, not only once it adopts them again (its `adopting again` line, AdoptedRuns).
 */
export class LetGoRuns {
  private readonly gathered: GatheredRuns;
  /** Told by their activity, not adopted again yet. */
  private readonly told = new Set<string>();
  /** Said before their activity told of them: their adoption again came first (its word comes at its heartbeat). */
  private readonly saidAhead = new Set<string>();

  constructor(
    private readonly say: (line: string) => void,
    gatheredMs?: number,
  ) {
    this.gathered = new GatheredRuns(say, letGoRunsLine, false, gatheredMs);
  }

  /** For the activities (ActivityOptions.onLetGo): paused or reset on the server, said at once; else gathered. */
  readonly add = (runKey: string, why: LetGoCause = 'gave-up'): void => {
    if (this.saidAhead.delete(runKey)) return;
    this.told.add(runKey);
    if (why === 'gave-up') this.gathered.add(runKey);
    else this.say(letGoByServerLine(runNameOf(runKey), why));
  };

  /**
   * Before the `adopting again` line of runKey: its let-go is said first, whether its activity told of it or not
   * (only the server's giving up, not a pause or reset, lets an adoption come before the activity's word).
   */
  readonly sayBeforeAdoption = (runKey: string): void => {
    if (!this.told.delete(runKey)) {
      this.saidAhead.add(runKey);
      this.gathered.add(runKey);
    }
    this.gathered.flush();
  };

  flush(): void {
    this.gathered.flush();
  }
}

/** A run let go of because its activity was paused or reset on the server (by hand: `temporal activity pause`). */
export function letGoByServerLine(name: string, why: Exclude<LetGoCause, 'gave-up'>): string {
  const what = `its activity was ${why} on the server`;
  return `let go of 1 run: ${what}; it runs on here, waiting to be adopted again: ${name}`;
}

export function letGoRunsLine(names: readonly string[]): string {
  const one = names.length === 1;
  return (
    `let go of ${runs(names.length)}: the server gave up on ${one ? 'it' : 'them'} (no heartbeat reached it in ` +
    `time: this machine slept or lost contact); ${one ? 'it runs' : 'they run'} on here, waiting to be adopted ` +
    `again: ${namedRuns(names)}`
  );
}

/**
 * A run held on because what its dead keeper left cannot be found (its spec.json, which names it, is unreadable): it
 * may still run, so it is never started again until its directory is removed, which the user does once it is stopped.
 */
export function notStoppableLine(
  runKey: string,
  { runDir, why }: RunNotStoppableError,
  when: NotStoppableWhen = 'held',
): string {
  const follows = {
    held: 'it is held as running, not started again while it may live',
    left: 'it is left for the next worker here, which holds it as running, not started again while it may live',
    cancelled: 'its experiment is cancelled, but what it left may still run',
  }[when];
  const then = when === 'cancelled' ? '' : ', then it runs again (no retry used)';
  return (
    `cannot stop ${runNameOf(runKey)}: its keeper died without recording an end, and ${why}; ${follows}: stop its ` +
    `processes (STAGED_RUN_ID=${runIdOf(runDir)} in their environment) and remove ${runDir}${then}`
  );
}

/** A run held whose spec.json cannot be read: its keeper has it, the worker not what it reads in it. */
export function specUnreadableLine(runKey: string, why: string): string {
  return (
    `${runNameOf(runKey)}: its spec.json is unreadable (${why}); held all the same: its keeper read it as it ` +
    'started; this worker knows neither its quota secret (its quota calls, if any, are refused) nor its units'
  );
}
