/**
 * Sweep members in a batch's wire form. A batch may hold 10,000 members of one script: each is packed as the places
 * of its values in its script's value lists, and its name is left out when the naming rule gives it back.
 * Workflow-safe and pure.
 */
import { memberName, scriptNameOf, type SweepParams } from './sweep-names.js';
import type { ExperimentSpec } from './types.js';

export interface PackedSweeps {
  /** Each swept script once (per set of keys): its file, its name, its keys and each key's values. */
  scripts: { file: string; name: string; keys: string[]; values: string[][] }[];
  /** One per experiment: 0 for a plain one; a member's script's place in `scripts`, then each value's in its list. */
  members: (number[] | 0)[];
}

/** The packed members, and the indexes whose names the naming rule derives (packed as ''). */
export function packSweeps(
  experiments: readonly ExperimentSpec[],
): { packed: PackedSweeps; derived: Set<number> } | undefined {
  const packed: PackedSweeps = { scripts: [], members: experiments.map(() => 0) };
  const derived = new Set<number>();
  const scriptPlaces = new Map<string, number>();
  const valuePlaces: Map<string, number>[][] = [];
  experiments.forEach((experiment, index) => {
    const { params } = experiment;
    if (!params) return;
    const keys = Object.keys(params);
    const name = scriptNameOf(experiment);
    const scriptKey = JSON.stringify([experiment.file, name, keys]);
    let place = scriptPlaces.get(scriptKey);
    if (place === undefined) {
      place = packed.scripts.length;
      scriptPlaces.set(scriptKey, place);
      packed.scripts.push({ file: experiment.file, name, keys, values: keys.map(() => []) });
      valuePlaces.push(keys.map(() => new Map<string, number>()));
    }
    const script = packed.scripts[place];
    const places = keys.map((key, k) => {
      const value = params[key];
      let at = valuePlaces[place][k].get(value);
      if (at === undefined) {
        at = script.values[k].length;
        script.values[k].push(value);
        valuePlaces[place][k].set(value, at);
      }
      return at;
    });
    packed.members[index] = [place, ...places];
    if (memberName(name, params) === experiment.name) derived.add(index);
  });
  return packed.scripts.length ? { packed, derived } : undefined;
}

/** The member at `index`, or undefined for a plain experiment; `packedName` is '' when derived. */
export function unpackMember(
  sweeps: PackedSweeps,
  index: number,
  packedName: string,
): { name: string; file: string; params: SweepParams } | undefined {
  const member = sweeps.members[index];
  if (member === 0 || member === undefined) return undefined;
  const script = sweeps.scripts[member[0]];
  const params: SweepParams = {};
  script.keys.forEach((key, k) => (params[key] = script.values[k][member[k + 1]]));
  return { name: packedName || memberName(script.name, params), file: script.file, params };
}
