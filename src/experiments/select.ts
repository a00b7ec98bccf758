/** Which discovered experiments a submit runs: `--priority` and `--experiments`. */
import { PRIORITIES, type ExperimentSpec, type Priority } from '../model/types.js';
import { BadInputError } from '../errors.js';
import { scriptNameOf } from '../model/sweep-names.js';

/**
 * `high` means high and everything above it (critical + high), as the original runner did;
 * a comma list (`medium,low`) means exactly those levels.
 */
export function parsePriorityFilter(value: string): Set<Priority> {
  const levels = value
    .split(',')
    .map((level) => level.trim().toLowerCase())
    .filter(Boolean);
  const unknown = levels.filter((level) => !(PRIORITIES as readonly string[]).includes(level));
  if (!levels.length || unknown.length) {
    throw new BadInputError(`unknown priority level "${unknown.join(',') || value}": use ${PRIORITIES.join(', ')}`);
  }
  if (levels.length === 1) {
    return new Set(PRIORITIES.slice(0, PRIORITIES.indexOf(levels[0] as Priority) + 1));
  }
  return new Set(levels as Priority[]);
}

/** One priority level, as `add --priority` and `change --priority` set it. */
export function parsePriority(value: string): Priority {
  const level = value.trim().toLowerCase();
  if ((PRIORITIES as readonly string[]).includes(level)) return level as Priority;
  throw new BadInputError(`--priority must be one of ${PRIORITIES.join(', ')} (got "${value}")`);
}

interface Selection {
  priority?: string;
  /** Comma-separated ids (`exp125`) or names (`exp125_adaptive_stop_loss`). */
  experiments?: string;
}

export function selectExperiments<T extends ExperimentSpec & { headerError?: string }>(
  all: readonly T[],
  selection: Selection,
): T[] {
  let chosen = [...all];
  if (selection.experiments !== undefined) {
    const wanted = splitNames(selection.experiments)
      .map((item) => item.trim())
      .filter(Boolean);
    if (!wanted.length) throw new BadInputError('--experiments is empty: give ids or names, comma-separated');
    // A swept script's name selects all its members; a member's name, that one.
    const names = (e: ExperimentSpec) => [e.id, e.name, scriptNameOf(e)];
    const unknown = wanted.filter((item) => !all.some((e) => names(e).includes(item)));
    if (unknown.length) {
      const named = `unknown experiment${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`;
      throw new BadInputError(`${named} (the ids here: ${idsOf(all)})`);
    }
    chosen = chosen.filter((e) => names(e).some((name) => wanted.includes(name)));
  }
  if (selection.priority !== undefined) {
    const levels = parsePriorityFilter(selection.priority);
    // A script whose header is malformed has no level to judge: it stays, to be refused (refuseBadHeaders).
    chosen = chosen.filter((e) => levels.has(e.priority) || e.headerError !== undefined);
  }
  if (!chosen.length) throw new BadInputError('the selection matches no experiment');
  return chosen;
}

/** Ids an unknown-experiment message shows, so that a typo is seen at once. */
const KNOWN_IDS_SHOWN = 10;

function idsOf(all: readonly ExperimentSpec[]): string {
  const ids = [...new Set(all.map((experiment) => experiment.id))];
  const shown = ids.slice(0, KNOWN_IDS_SHOWN).join(', ');
  return ids.length > KNOWN_IDS_SHOWN ? `${shown} and ${ids.length - KNOWN_IDS_SHOWN} more` : shown;
}

/** `a,b[lr=1,seed=2]`: a comma list whose items may be sweep members, whose names hold commas inside `[…]`. */
export function splitNames(list: string): string[] {
  return list.split(/,(?![^[\]]*\])/);
}

/** The queue narrowed to the experiments `keep` accepts; `why` ends "the selection matches no experiment …". */
export function narrowQueue<T extends ExperimentSpec>(
  queue: readonly T[],
  keep: (name: string) => boolean,
  why: string,
): T[] {
  const kept = queue.filter((experiment) => keep(experiment.name));
  if (!kept.length) throw new BadInputError(`the selection matches no experiment ${why}`);
  return kept;
}

/**
 * Members of the earlier batch this directory does not make (it was submitted with `--sweep`, or its `Sweep:` line
 * changed): without a word, "matches no experiment" would read as false.
 */
export function refuseMissingMembers(
  queue: readonly { name: string }[],
  rerun: ReadonlySet<string>,
  batchId: string,
): void {
  const made = new Set(queue.map((experiment) => experiment.name));
  if ([...rerun].some((name) => made.has(name))) return;
  const members = [...rerun].filter((name) => name.includes('['));
  if (!members.length) return;
  throw new BadInputError(
    `batch ${batchId}'s members that did not complete (${members.slice(0, 3).join(', ')}` +
      `${members.length > 3 ? ` and ${members.length - 3} more` : ''}) are not made by this directory's scripts: ` +
      'give the same --experiments and --sweep as that submit, or restore its Sweep: line',
  );
}
