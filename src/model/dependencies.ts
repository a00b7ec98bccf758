/**
 * Dependencies between the experiments of a batch (`After:` and `After-any:` lines): an experiment starts only
 * once each `after` experiment completed and each `afterAny` one ended in any way. One whose `after` experiment
 * ended otherwise is skipped, naming it. Workflow-safe and pure.
 */
import { isFinal } from './batch-state.js';
import type { BatchState, ExperimentSpec, ExperimentStatus } from './types.js';

export function hasDependencies(state: BatchState): boolean {
  return state.experiments.some((experiment) => experiment.after?.length || experiment.afterAny?.length);
}

/** The names an experiment still waits for; empty once it may start. `statusOf`: from statusesByName, when at hand. */
export function waitingFor(state: BatchState, index: number, statusOf?: StatusesByName): string[] {
  const { after = [], afterAny = [] } = state.experiments[index];
  if (!after.length && !afterAny.length) return [];
  statusOf ??= statusesByName(state);
  return [
    ...after.filter((name) => statusOf.get(name) !== 'completed'),
    ...afterAny.filter((name) => !isFinal(statusOf.get(name) ?? 'queued')),
  ];
}

/**
 * Skips each unstarted experiment one of whose `after` experiments ended without completing, and theirs in turn.
 * Returns the indexes it skipped.
 */
export function skipUnreachable(state: BatchState, now: number): number[] {
  const skipped: number[] = [];
  const statusOf = statusesByName(state);
  for (let changed = true; changed;) {
    changed = false;
    state.experiments.forEach((experiment, index) => {
      const record = state.records[index];
      if (index < state.nextIndex || isFinal(record.status)) return;
      const failed = experiment.after?.find((name) => {
        const status = statusOf.get(name);
        return status !== undefined && isFinal(status) && status !== 'completed';
      });
      if (failed === undefined) return;
      const why = `${failed} ${statusOf.get(failed)}`;
      state.records[index] = { ...record, status: 'skipped', closedAt: now, error: `not started: ${why}` };
      statusOf.set(experiment.name, 'skipped');
      skipped.push(index);
      changed = true;
    });
  }
  return skipped;
}

export type StatusesByName = Map<string, ExperimentStatus>;

export function statusesByName(state: BatchState): StatusesByName {
  return new Map(state.experiments.map((experiment, index) => [experiment.name, state.records[index].status]));
}

/**
 * Why a set of experiments cannot run with its dependencies: one names an experiment that is not in `known`
 * (the batch, for `add`) nor in the set, or itself, or they wait for each other in a circle. Undefined when fine.
 */
export function dependencyProblem(
  experiments: readonly Pick<ExperimentSpec, 'name' | 'after' | 'afterAny'>[],
  known: readonly Pick<ExperimentSpec, 'name' | 'after' | 'afterAny'>[] = [],
): string | undefined {
  const all = new Map([...known, ...experiments].map((experiment) => [experiment.name, experiment]));
  for (const experiment of experiments) {
    for (const name of [...(experiment.after ?? []), ...(experiment.afterAny ?? [])]) {
      if (name === experiment.name) return `${experiment.name} waits for itself`;
      if (!all.has(name)) return `${experiment.name} waits for ${name}, which is not in the batch`;
    }
  }
  const circle = findCircle(all);
  return circle ? `${circle.join(' -> ')}: these wait for each other in a circle` : undefined;
}

function findCircle(all: Map<string, Pick<ExperimentSpec, 'name' | 'after' | 'afterAny'>>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const at = path.indexOf(name);
    if (at >= 0) return [...path.slice(at), name];
    if (done.has(name)) return undefined;
    path.push(name);
    const experiment = all.get(name);
    for (const next of [...(experiment?.after ?? []), ...(experiment?.afterAny ?? [])]) {
      const circle = visit(next);
      if (circle) return circle;
    }
    path.pop();
    done.add(name);
    return undefined;
  };
  for (const name of all.keys()) {
    const circle = visit(name);
    if (circle) return circle;
  }
  return undefined;
}
