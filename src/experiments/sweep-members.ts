/** A swept script's members, as discovery and `submit --sweep` make them: one experiment per point of the sweep. */
import { BadInputError } from '../errors.js';
import { experimentIdOf } from '../model/batch-state.js';
import type { ExperimentSpec } from '../model/types.js';
import {
  checkArgsTemplate,
  expandSweep,
  joinSweeps,
  memberNames,
  parseSweep,
  sweepKeys,
  sweepSize,
  SweepError,
  type Sweep,
  type SweepLines,
} from './sweep.js';

interface Script extends ExperimentSpec {
  path: string;
  sweepLines?: SweepLines;
}

/** The script's members in declared order, each with the script's settings; `where` starts an error (file:line). */
export function sweepMembers<T extends Script>(script: T, sweep: Sweep, where: string, maxExperiments: number): T[] {
  const size = sweepSize(sweep);
  if (size > maxExperiments) {
    throw new BadInputError(
      `${where}: the sweep has ${size} members, more than a batch may hold ` +
        `(${maxExperiments}; raise --max-experiments)`,
    );
  }
  const all = expandSweep(sweep);
  let names: string[];
  try {
    names = memberNames(script.name, all);
  } catch (err) {
    if (err instanceof SweepError) throw new BadInputError(`${where}: ${err.message}`);
    throw err;
  }
  return all.map((params, index) => ({ ...script, id: experimentIdOf(names[index]), name: names[index], params }));
}

/**
 * `submit --sweep 'lr=…' --sweep 'seed=1..5'`: sweeps the one selected script, which must have no `Sweep:` line.
 * Several selected scripts, or a swept one, is bad input: which sweep applies to which would be a guess.
 */
export function applySweepOption<T extends Script>(
  selected: readonly T[],
  texts: string[],
  maxExperiments: number,
): T[] {
  const scripts = [...new Set(selected.map((experiment) => experiment.path))];
  if (scripts.length !== 1) {
    throw new BadInputError(
      `--sweep sweeps one script, but ${scripts.length} are selected: name it with --experiments <id or name>`,
    );
  }
  const [script] = selected;
  if (script.params) {
    throw new BadInputError(
      `--sweep: ${script.path}:${script.sweepLines?.sweep?.line ?? 0} has a Sweep: line already; ` +
        'edit it, or copy the script for another sweep',
    );
  }
  let sweep: Sweep;
  try {
    sweep = joinSweeps(texts.map((text) => parseSweep(text)));
    const args = script.sweepLines?.args;
    if (args) {
      try {
        checkArgsTemplate(args.template, sweepKeys(sweep));
      } catch (err) {
        if (err instanceof SweepError) throw new BadInputError(`${script.path}:${args.line}: ${err.message}`);
        throw err;
      }
    }
  } catch (err) {
    if (err instanceof SweepError) throw new BadInputError(`--sweep: ${err.message}`);
    throw err;
  }
  return sweepMembers(script, sweep, '--sweep', maxExperiments);
}

/** Refuses a batch of more experiments than `--max-experiments` allows. */
export function refuseTooMany(count: number, maxExperiments: number): void {
  if (count > maxExperiments) {
    throw new BadInputError(
      `the batch would hold ${count} experiments, more than ${maxExperiments}: ` +
        'narrow it (--experiments, a smaller sweep) or raise --max-experiments',
    );
  }
}
