/**
 * `After:` and `After-any:` lines of an experiment's docstring: the experiments it waits for, by id or name,
 * resolved to names within its batch at submit (or `add`), where a wrong one is bad input naming file:line.
 */
import { BadInputError } from '../errors.js';
import { dependencyProblem } from '../model/dependencies.js';
import type { ExperimentSpec } from '../model/types.js';
import { scriptNameOf } from '../model/sweep-names.js';
import { splitNames } from './select.js';

const AFTER_LINE = /^[\s#*-]*after(-any)?\s*:\s*(.*?)\s*$/gim;

/** The references of an experiment's After lines, as written, with the line of the source each is on. */
export interface AfterLines {
  after: string[];
  afterAny: string[];
  /** 1-based line in the file of the first After line. */
  line: number;
}

export function afterLinesOf(text: string, source: string): AfterLines | undefined {
  const found: AfterLines = { after: [], afterAny: [], line: 0 };
  for (const match of text.matchAll(AFTER_LINE)) {
    const refs = splitNames(match[2]).map((ref) => ref.trim());
    if (!refs.every(Boolean)) {
      throw new BadInputError(`malformed line "${match[0].trim()}": give experiment ids or names, comma-separated`);
    }
    (match[1] ? found.afterAny : found.after).push(...refs);
    found.line ||= lineOf(source, match[0].trim());
  }
  return found.line || found.after.length || found.afterAny.length ? found : undefined;
}

function lineOf(source: string, text: string): number {
  const index = source.split('\n').findIndex((line) => line.includes(text));
  return index + 1;
}

interface Waiting extends ExperimentSpec {
  path: string;
  afterLines?: AfterLines;
}

/**
 * Turns each experiment's After references into names of `queue` or `known` (the batch, for `add`); an id must
 * name one experiment. Unknown or ambiguous references, an experiment waiting for itself and circles are bad input.
 */
export function resolveAfterLines<T extends Waiting>(queue: readonly T[], known: readonly ExperimentSpec[] = []): T[] {
  const candidates = [...known, ...queue];
  const resolved = queue.map((experiment) => {
    const lines = experiment.afterLines;
    if (!lines) return experiment;
    const where = `${experiment.path}:${lines.line}: After:`;
    const withNames: T = { ...experiment };
    if (lines.after.length) withNames.after = resolveReferences(lines.after, candidates, where);
    if (lines.afterAny.length) withNames.afterAny = resolveReferences(lines.afterAny, candidates, where);
    return withNames;
  });
  const problem = dependencyProblem(resolved, known);
  if (problem) {
    const first = resolved.find((experiment) => problem.includes(experiment.name));
    const where = first?.afterLines ? `${first.path}:${first.afterLines.line}: ` : '';
    throw new BadInputError(`${where}${problem}`);
  }
  return resolved;
}

/** Names of `candidates` that `refs` (ids or names) give, once each; `where` starts the error of a wrong one. */
export function resolveReferences(refs: string[], candidates: readonly ExperimentSpec[], where: string): string[] {
  const namesOf = (ref: string): string[] => {
    const byName = candidates.find((candidate) => candidate.name === ref);
    if (byName) return [byName.name];
    // A swept script's name, or its id, means every member of it.
    const members = candidates.filter((candidate) => candidate.params && scriptNameOf(candidate) === ref);
    if (members.length) return members.map((member) => member.name);
    const byId = candidates.filter((candidate) => candidate.id === ref);
    if (byId.length === 1) return [byId[0].name];
    if (byId.length > 1 && new Set(byId.map((candidate) => candidate.file)).size === 1 && byId[0].params) {
      return byId.map((candidate) => candidate.name);
    }
    if (byId.length > 1) {
      throw new BadInputError(`${where} "${ref}" names ${byId.map((c) => c.name).join(', ')}; give one name`);
    }
    throw new BadInputError(`${where} ${ref} is not in this batch`);
  };
  return [...new Set(refs.flatMap(namesOf))];
}

/**
 * Drops what the batch's experiments wait for outside it: one left out by `--experiments`, or by `--rerun-failed`
 * and `--skip-completed` (it completed before) is not waited for.
 */
export function withinBatch(experiments: ExperimentSpec[]): ExperimentSpec[] {
  const names = new Set(experiments.map((experiment) => experiment.name));
  return experiments.map((experiment) => {
    const kept: ExperimentSpec = { ...experiment };
    const after = experiment.after?.filter((name) => names.has(name));
    const afterAny = experiment.afterAny?.filter((name) => names.has(name));
    delete kept.after;
    delete kept.afterAny;
    if (after?.length) kept.after = after;
    if (afterAny?.length) kept.afterAny = afterAny;
    return kept;
  });
}
