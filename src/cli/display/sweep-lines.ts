/**
 * Sweeps in `status`, `watch` and the final summary: one line per script with its members' counts, then
 * its members (running ones always; the others up to MEMBER_LINES, unless every member is asked for).
 */
import { experimentViews, isFinal } from '../../model/batch-state.js';
import {
  foldMembers,
  groupBySweep,
  memberLabel,
  statusCountsText,
  sweepCountsText,
  sweepOf,
} from '../../model/sweep-groups.js';
import { sweepTable } from '../../model/summary-table.js';
import type { BatchState, BatchSummary, ExperimentSpec, ExperimentSummary, ExperimentView } from '../../model/types.js';
import { formatDuration } from '../../parse/duration.js';
import { commandHint } from '../invocation.js';
import type { LiveExperimentView } from './batch-view.js';
import { textTable } from './table.js';

/** Members listed per sweep besides its running ones, unless `--members` asks for all. */
export const MEMBER_LINES = 10;

/** The batch's header: `Sweep exp140_lr_sweep: 15 members` for each sweep. */
export function sweepSizeLines(experiments: readonly ExperimentSpec[]): string[] {
  const sweeps = groupBySweep(experiments.map((experiment) => ({ sweep: sweepOf(experiment) }))).sweeps;
  return sweeps.map(
    ({ sweep, members }) => `Sweep ${sweep}: ${members.length} member${members.length === 1 ? '' : 's'}`,
  );
}

/** `exp140_lr_sweep  sweep of 15: 9 completed, 2 running, 4 queued` */
export function sweepHeadLine(sweep: string, members: readonly ExperimentView[]): string {
  return `${sweep}  ${sweepCountsText(members)}`;
}

/** `status`: each sweep's line and its members, each with its parameters, status, attempts and progress. */
export function sweepStatusLines(
  experiments: readonly LiveExperimentView[],
  batchId: string,
  allMembers: boolean,
  runningDetails: (member: LiveExperimentView) => string,
): string[] {
  return groupBySweep(experiments).sweeps.flatMap(({ sweep, members }) => {
    const { listed, folded } = allMembers ? { listed: members, folded: [] } : foldMembers(members, MEMBER_LINES);
    const rows = listed.map((member) => [
      `- ${memberLabel(member.name)}`,
      member.status,
      member.status === 'running' || member.status === 'retrying' ? runningDetails(member) : memberDetails(member),
    ]);
    return [
      `  ${sweepHeadLine(sweep, members)}`,
      ...textTable(rows, { indent: '    ' }),
      ...(folded.length ? [`    … and ${folded.length} more: ${statusCountsText(folded)} (${moreHint(batchId)})`] : []),
    ];
  });
}

function moreHint(batchId: string): string {
  return `${commandHint('status', [batchId, '--members'])} lists every member`;
}

/** A member not running: its attempts, and how it ended or what it waits for. */
function memberDetails(member: LiveExperimentView): string {
  const parts = member.attempts ? [member.attempts === 1 ? 'attempt 1' : `${member.attempts} attempts`] : [];
  if (member.status === 'completed' && member.startedAt && member.closedAt)
    parts.push(formatDuration(Date.parse(member.closedAt) - Date.parse(member.startedAt)));
  if (member.status === 'failed')
    parts.push(member.exitCode === null ? (member.reason ?? 'failed') : `exit ${member.exitCode}`);
  if (member.waitingFor) parts.push(`waits for ${member.waitingFor.join(', ')}`);
  return parts.join(', ');
}

/**
 * `watch`: a sweep's counts each time some of its members ended since the last look, e.g.
 * `[SWEEP] exp140_lr_sweep  sweep of 15: 10 completed, 1 failed, 2 running, 2 queued`.
 */
export function sweepChangeLines(previous: BatchState | undefined, next: BatchState): string[] {
  if (!previous) return [];
  const endedBefore = new Set(
    previous.experiments.filter((_, index) => isFinal(previous.records[index].status)).map(({ name }) => name),
  );
  const views = experimentViews(next);
  const changed = new Set(
    views
      .filter((view) => view.sweep !== undefined && isFinal(view.status) && !endedBefore.has(view.name))
      .map((view) => view.sweep),
  );
  return groupBySweep(views)
    .sweeps.filter(({ sweep }) => changed.has(sweep))
    .map(({ sweep, members }) => `[SWEEP] ${sweepHeadLine(sweep, members)}`);
}

/** The final summary's part for sweeps: per sweep its line and its members' table, parameters as columns. */
export function sweepSummaryLines(summary: BatchSummary, allMembers: boolean): string[] {
  return groupBySweep(summary.experiments).sweeps.flatMap(({ sweep, members }) => {
    const { listed, folded } = allMembers ? { listed: members, folded: [] } : foldMembers(members, MEMBER_LINES);
    const table = sweepTable(listed);
    return [
      '',
      sweepHeadLine(sweep, members),
      ...textTable(table, { indent: '  ', rightAligned: [table[0].indexOf('attempts')] }),
      ...(folded.length
        ? [`  … and ${folded.length} more: ${statusCountsText(folded)} (${moreHint(summary.batchId)})`]
        : []),
    ];
  });
}

/** The experiments whose failures the summary details: each sweep's first MEMBER_LINES failed members only. */
export function withoutFoldedFailures(experiments: readonly ExperimentSummary[]): ExperimentSummary[] {
  const failedBySweep = new Map<string, number>();
  return experiments.filter((experiment) => {
    if (experiment.sweep === undefined || experiment.status !== 'failed') return true;
    const seen = (failedBySweep.get(experiment.sweep) ?? 0) + 1;
    failedBySweep.set(experiment.sweep, seen);
    return seen <= MEMBER_LINES;
  });
}
