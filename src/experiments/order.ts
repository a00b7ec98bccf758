/** Start order of a batch: priority, then experiment number in natural order (exp99 before exp100), then name. */
import { compareNatural } from '../model/natural-order.js';
import { PRIORITIES, type ExperimentSpec } from '../model/types.js';

function compareExperiments(a: ExperimentSpec, b: ExperimentSpec): number {
  return PRIORITIES.indexOf(a.priority) - PRIORITIES.indexOf(b.priority) || compareNatural(a, b);
}

export function sortExperiments<T extends ExperimentSpec>(experiments: readonly T[]): T[] {
  return [...experiments].sort(compareExperiments);
}
