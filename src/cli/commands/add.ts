/** `add <batchId> <path…>`: experiments join a running batch's queue, discovered as `submit` discovers them. */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { declareQuotas, liveBatch, sendChange, withClient } from '../../batch-client/index.js';
import { loadProjectConfig } from '../../config.js';
import { BadInputError, EXIT } from '../../errors.js';
import {
  discoverScripts,
  refuseBadHeaders,
  refuseNotExecutable,
  specOf,
  type DiscoveredExperiment,
} from '../../experiments/discover.js';
import { sortExperiments } from '../../experiments/order.js';
import { resolveAfterLines, resolveReferences } from '../../experiments/after-lines.js';
import { dependencyProblem } from '../../model/dependencies.js';
import type { ExperimentSpec } from '../../model/types.js';
import { parsePriority, splitNames } from '../../experiments/select.js';
import { addExperimentsUpdate } from '../../protocol/messages.js';
import type { OptionsOf } from '../command-table.js';
import { experimentLines } from '../display/steer.js';
import { quotasUsedBy, refuseUnmetered } from '../quota-use.js';
import { userDirectory } from '../invocation.js';
import { snapshotAdded } from '../../experiments/code-snapshot.js';
import { refuseLargeAdd, refuseLongRunKeys } from '../../experiments/batch-bounds.js';
import { refuseTooMany } from '../../experiments/sweep-members.js';

export async function run([batchId, ...paths]: string[], options: OptionsOf<'add'>): Promise<number> {
  const priority = options.priority === undefined ? undefined : parsePriority(options.priority);
  return withClient(async (client) => {
    const live = await liveBatch(client, batchId);
    const { workDir, experimentsDir, taskQueue } = live.state.settings;
    const config = await loadProjectConfig(workDir);
    const rules = {
      priority: config.priorityRules,
      quotas: new Set(Object.keys(config.quotas)),
      maxExperiments: options.maxExperiments,
    };
    const discovered = await discoverScripts(experimentsDir, rules);
    const picked = await pickByPaths(discovered, paths, experimentsDir);
    refuseBadHeaders(picked);
    refuseNotExecutable(picked);
    const queue = sortExperiments(priority ? picked.map((experiment) => ({ ...experiment, priority })) : picked);
    const quotas = quotasUsedBy(queue, config.quotas);
    refuseUnmetered(queue, quotas);
    const known = new Set(live.state.experiments.map((experiment) => experiment.name));
    const twice = queue.filter((experiment) => known.has(experiment.name)).map((experiment) => experiment.name);
    if (twice.length) throw new BadInputError(`batch ${batchId} already has ${twice.join(', ')}; nothing was added`);
    refuseTooMany(live.state.experiments.length + queue.length, options.maxExperiments);
    refuseLongRunKeys(live.state.batchId, queue);
    const resolved = resolveAfterLines(queue, live.state.experiments).map(specOf);
    const experiments = withAfterOption(resolved, options.after, live.state.experiments);
    refuseLargeAdd({ experiments }, experiments.length);
    const copies = await snapshotAdded(live.state.settings, queue, live.state.experiments);
    const answer = await (async () => {
      (await declareQuotas(client.workflow, taskQueue, quotas)).forEach((line) => console.error(line));
      return sendChange(live, addExperimentsUpdate, { experiments });
    })().catch(async (err: unknown) => {
      if (err instanceof BadInputError) await copies.undo(); // refused: nothing of the add stays in the copy
      throw err;
    });
    await copies.keep();
    if (options.json) console.log(JSON.stringify(answer, null, 2));
    else experimentLines('ADD', answer).forEach((line) => console.log(line));
    return EXIT.ok;
  });
}

/** The experiments the paths name: a script of the batch's directory, or that directory (all its scripts). */
async function pickByPaths(
  discovered: DiscoveredExperiment[],
  paths: string[],
  experimentsDir: string,
): Promise<DiscoveredExperiment[]> {
  const dir = await realpath(experimentsDir);
  const picked = new Map<string, DiscoveredExperiment>();
  for (const given of paths) {
    const real = await realpath(path.resolve(userDirectory(), given)).catch(() => {
      throw new BadInputError(`${given}: no such file or directory`);
    });
    if (real === dir) {
      discovered.forEach((experiment) => picked.set(experiment.name, experiment));
      continue;
    }
    // A swept script is all its members.
    const members = discovered.filter((candidate) => path.join(dir, candidate.file) === real);
    const [experiment] = members;
    if (!experiment) {
      const why =
        path.dirname(real) === dir
          ? 'is not an experiment script (executable, or .py, not starting with _ or .)'
          : `is not in the batch's experiments directory ${experimentsDir}: a batch runs the scripts of one directory`;
      throw new BadInputError(`${given} ${why}`);
    }
    members.forEach((member) => picked.set(member.name, member));
  }
  return [...picked.values()];
}

/** `--after a,b`: every added experiment waits, besides its own After: lines, for these to complete. */
function withAfterOption(added: ExperimentSpec[], refs: string | undefined, known: ExperimentSpec[]): ExperimentSpec[] {
  if (refs === undefined) return added;
  const list = splitNames(refs).map((ref) => ref.trim());
  if (!list.every(Boolean)) throw new BadInputError(`--after "${refs}": give experiment ids or names, comma-separated`);
  const names = resolveReferences(list, [...known, ...added], '--after');
  const waiting = added.map((experiment) => ({
    ...experiment,
    after: [...new Set([...(experiment.after ?? []), ...names])],
  }));
  const problem = dependencyProblem(waiting, known);
  if (problem) throw new BadInputError(`--after: ${problem}`);
  return waiting;
}
