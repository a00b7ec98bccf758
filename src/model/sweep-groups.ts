/**
 * Sweep members grouped under their script, for `status`, `watch` and the summary: a member is named
 * `<script>[<k>=<v>,…]` and carries its `params`; a plain script has none. Pure and workflow-safe.
 */
import { scriptNameOf } from './sweep-names.js';
import type { ExperimentStatus } from './types.js';

/** The script a sweep member belongs to (its name without the parameters); undefined for a plain script. */
export function sweepOf(experiment: { name: string; params?: Record<string, string> }): string | undefined {
  return experiment.params ? scriptNameOf(experiment) : undefined;
}

/** A member's name under its script's line: its parameters, `[lr=1e-3,seed=1]`. */
export function memberLabel(name: string): string {
  const bracket = name.lastIndexOf('[');
  return bracket > 0 ? name.slice(bracket) : name;
}

export interface SweepGroup<T> {
  sweep: string;
  /** In the batch's order (start order). */
  members: T[];
}

/** Plain experiments, and each sweep's members under it, sweeps in the order their first member comes. */
export function groupBySweep<T extends { sweep?: string }>(
  items: readonly T[],
): { plain: T[]; sweeps: SweepGroup<T>[] } {
  const plain: T[] = [];
  const sweeps = new Map<string, SweepGroup<T>>();
  for (const item of items) {
    if (item.sweep === undefined) {
      plain.push(item);
      continue;
    }
    let group = sweeps.get(item.sweep);
    if (!group) sweeps.set(item.sweep, (group = { sweep: item.sweep, members: [] }));
    group.members.push(item);
  }
  return { plain, sweeps: [...sweeps.values()] };
}

/** The order counts are told in: what is done, what runs, what waits. */
const COUNT_ORDER: readonly ExperimentStatus[] = [
  'completed',
  'failed',
  'running',
  'retrying',
  'waiting-quota',
  'queued',
  'held',
  'cancelled',
  'skipped',
];

/** `9 completed, 2 running, 4 queued`: the statuses members have, in COUNT_ORDER. */
export function statusCountsText(members: readonly { status: ExperimentStatus }[]): string {
  const counts = new Map<ExperimentStatus, number>();
  for (const { status } of members) counts.set(status, (counts.get(status) ?? 0) + 1);
  return COUNT_ORDER.filter((status) => counts.has(status))
    .map((status) => `${counts.get(status)} ${status}`)
    .join(', ');
}

/** `sweep of 15: 9 completed, 2 running, 4 queued` */
export function sweepCountsText(members: readonly { status: ExperimentStatus }[]): string {
  return `sweep of ${members.length}: ${statusCountsText(members)}`;
}

/** Members that are always listed: those running or about to run again. */
const ALWAYS_LISTED: readonly ExperimentStatus[] = ['running', 'retrying', 'waiting-quota'];

/**
 * Which members a long sweep lists: every running (or retrying, or waiting-quota) one, then up to `limit`
 * others, failed ones first; the rest are folded into counts. Both lists keep the batch's order.
 */
export function foldMembers<T extends { status: ExperimentStatus }>(
  members: readonly T[],
  limit: number,
): { listed: T[]; folded: T[] } {
  const active = members.filter((member) => ALWAYS_LISTED.includes(member.status));
  const failed = members.filter((member) => member.status === 'failed');
  const rest = members.filter((member) => member.status !== 'failed' && !ALWAYS_LISTED.includes(member.status));
  const chosen = new Set([...active, ...[...failed, ...rest].slice(0, limit)]);
  return {
    listed: members.filter((member) => chosen.has(member)),
    folded: members.filter((member) => !chosen.has(member)),
  };
}
