/** Start order of a batch: priority, then experiment number in natural order (exp99 before exp100), then name. */
import { PRIORITIES, type ExperimentSpec } from '../model/types.js';

const natural = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

function compareExperiments(a: ExperimentSpec, b: ExperimentSpec): number {
  return (
    PRIORITIES.indexOf(a.priority) - PRIORITIES.indexOf(b.priority) ||
    natural.compare(a.id, b.id) ||
    natural.compare(a.name, b.name) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}

export function sortExperiments<T extends ExperimentSpec>(experiments: readonly T[]): T[] {
  return [...experiments].sort(compareExperiments);
}
