/**
 * The names of sweep members: `<script name>[<key>=<value>,…]`, parameters in declared order, each value made safe
 * for a file name (every character other than a letter, digit, `.`, `-` or `+` becomes `_`, and so does each dot of
 * a `..` run, which a worker refuses in a name). Workflow-safe and pure.
 */

/** Parameters in declared order, by key; the shape of `ExperimentSpec.params`. */
export type SweepParams = Record<string, string>;

const UNSAFE_CHARACTER = /[^A-Za-z0-9.+-]/g;
const DOT_RUN = /\.{2,}/g;

export function safeValue(value: string): string {
  return value.replace(UNSAFE_CHARACTER, '_').replace(DOT_RUN, (dots) => '_'.repeat(dots.length));
}

export function memberName(scriptName: string, params: SweepParams): string {
  const pairs = Object.entries(params).map(([key, value]) => `${key}=${safeValue(value)}`);
  return `${scriptName}[${pairs.join(',')}]`;
}

/** The script a member belongs to, by name; a plain experiment's own name. */
export function scriptNameOf(experiment: { name: string; params?: SweepParams }): string {
  if (!experiment.params) return experiment.name;
  const bracket = experiment.name.lastIndexOf('[');
  return bracket < 0 ? experiment.name : experiment.name.slice(0, bracket);
}
