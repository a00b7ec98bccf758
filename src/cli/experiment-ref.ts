/** Which experiment of a batch the user means: `cancel --experiment` and `logs` share this rule. */
import { BadInputError } from '../errors.js';

export interface NamedExperiment {
  id: string;
  name: string;
}

/** A name names one experiment; an id must too, else the matches are listed and nothing is done. */
export function resolveExperiment(experiments: readonly NamedExperiment[], wanted: string, batchId: string): number {
  const byName = experiments.findIndex((experiment) => experiment.name === wanted);
  if (byName >= 0) return byName;
  const byId = experiments.flatMap((experiment, index) => (experiment.id === wanted ? [index] : []));
  if (byId.length === 1) return byId[0];
  if (!byId.length) throw new BadInputError(`batch "${batchId}" has no experiment "${wanted}"`);
  const names = byId.map((index) => experiments[index].name).join(', ');
  throw new BadInputError(
    `"${wanted}" is ambiguous in batch "${batchId}": it is the id of ${names}; give the name of one`,
  );
}
