/**
 * What a worker says when other live workers of its machine count the same runs (as it starts, and when one starts
 * or stops beside it): every run alive there counts against each one's `--slots` (machine/capacity.ts), so it adds
 * capacity only past the largest of theirs.
 */
import type { MachineWorker } from '../machine/machine-workers.js';
import { isInside } from '../paths.js';

/** `--slots 3`: what the machine runs at once with these workers; what this one adds to the others. */
export function sharedMachineLine(
  others: readonly MachineWorker[],
  slots: number,
  runsDir: string,
  serves: readonly string[] = [],
): string {
  const theirs = Math.max(...others.map((worker) => worker.slots));
  const who = others.map(({ pid, slots: theirSlots }) => `pid ${pid}, --slots ${theirSlots}`).join('; ');
  const onlyHere = servedOnlyHere(others, serves);
  const adds = onlyHere.length
    ? `the runs of ${onlyHere.join(', ')}, which only this worker serves, start only while fewer than ${slots} ` +
      'runs of any directory are alive here'
    : slots <= theirs
      ? `it adds no capacity (the machine runs at most ${theirs} at once, as without this worker)`
      : `it adds only ${slots - theirs} (the machine runs at most ${slots} at once, as with this worker alone)`;
  const advice = onlyHere.length
    ? `run one worker per machine, serving every directory (--allow-dir ${allServed(others, serves).join(' ')})`
    : 'run one worker per machine';
  return (
    `[WARN] ${others.length === 1 ? 'another live worker' : `${others.length} other live workers`} of this ` +
    `machine (${who}) ${others.length === 1 ? 'counts' : 'count'} the runs of its runs directory ${runsDir}: every ` +
    `run alive there counts against this worker's --slots ${slots} too, so ${adds}; ${advice}, ` +
    'with the --slots you want (docs/resources.md, "Limits")'
  );
}

/** This worker's directories that no other one serves; none when one of them does not say what it serves. */
function servedOnlyHere(others: readonly MachineWorker[], serves: readonly string[]): string[] {
  if (others.some((worker) => worker.serves === undefined)) return [];
  return serves.filter((dir) => !others.some((worker) => worker.serves!.some((root) => isInside(root, dir))));
}

function allServed(others: readonly MachineWorker[], serves: readonly string[]): string[] {
  return [...new Set([...others.flatMap((worker) => worker.serves ?? []), ...serves])];
}

/** Once the other workers counting its runs have stopped. */
export function aloneAgainLine(runsDir: string): string {
  return (
    `no other live worker of this machine counts the runs of ${runsDir} now: ` +
    "this worker's --slots are its own again"
  );
}
