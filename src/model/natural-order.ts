/**
 * Experiment number in natural order (exp99 before exp100), then name: the order of experiments of one priority.
 * Workflow-safe: plain string work, no Intl.
 */
import type { ExperimentSpec } from './types.js';

export function compareNatural(a: Ordered, b: Ordered): number {
  // Members of one sweep keep their declared order: a stable sort leaves them as they were expanded.
  if (a.params && b.params && a.file === b.file) return 0;
  return compareText(a.id, b.id) || compareText(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

type Ordered = Pick<ExperimentSpec, 'id' | 'name'> & Partial<Pick<ExperimentSpec, 'file' | 'params'>>;

/** Digit runs compare as numbers, the rest case-insensitively. */
function compareText(a: string, b: string): number {
  const left = chunks(a);
  const right = chunks(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const [x, y] = [left[i], right[i]];
    const bothNumbers = /^\d/.test(x) && /^\d/.test(y);
    const order = bothNumbers
      ? Number(x) - Number(y)
      : x.toLowerCase() < y.toLowerCase()
        ? -1
        : x.toLowerCase() > y.toLowerCase()
          ? 1
          : 0;
    if (order) return order;
  }
  return left.length - right.length;
}

function chunks(text: string): string[] {
  return text.match(/\d+|\D+/g) ?? [];
}
