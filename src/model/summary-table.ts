/** The rows of a batch's summary table, shared by the terminal and summary.md. */
import { formatDuration } from '../parse/duration.js';
import { codeText, dirtyList } from './code.js';
import { groupBySweep, sweepCountsText } from './sweep-groups.js';
import type { BatchSummary, ExperimentSummary } from './types.js';

/** `reason`: why the last attempt ended when it did not exit 0 (END_REASONS: exit-code, signal, … refused). */
export const SUMMARY_COLUMNS = ['experiment', 'priority', 'status', 'attempts', 'duration', 'reason'] as const;

export function summaryRows(summary: BatchSummary): string[][] {
  return summary.experiments.map((experiment) => [
    experiment.name,
    experiment.priority,
    experiment.status,
    attemptsText(experiment),
    durationText(experiment),
    reasonText(experiment),
  ]);
}

/** The end reason; for an experiment skipped because one it runs after did not complete, which one and how it ended. */
function reasonText(experiment: ExperimentSummary): string {
  if (experiment.reason) return experiment.reason;
  if (experiment.status === 'skipped' && experiment.error) return experiment.error.replace(/^not started: /, 'after ');
  return '-';
}

/** `3 (1 lost, 1 requeued)`: runs that used no retry said beside the count. */
function attemptsText(experiment: ExperimentSummary): string {
  const free = [
    ...(experiment.lostRuns ? [`${experiment.lostRuns} lost`] : []),
    ...(experiment.requeues ? [`${experiment.requeues} requeued`] : []),
  ];
  return free.length ? `${experiment.attempts} (${free.join(', ')})` : String(experiment.attempts);
}

function durationText(experiment: ExperimentSummary): string {
  return experiment.startedAt && experiment.closedAt
    ? formatDuration(Date.parse(experiment.closedAt) - Date.parse(experiment.startedAt))
    : '-';
}

/** A sweep's parameter names, in declared order. */
function paramNames(members: readonly ExperimentSummary[]): string[] {
  return [...new Set(members.flatMap((member) => Object.keys(member.params ?? {})))];
}

/** A sweep's table: each member by name, its parameters as columns, then as SUMMARY_COLUMNS (its priority aside). */
export function sweepTable(members: readonly ExperimentSummary[]): string[][] {
  const names = paramNames(members);
  return [
    ['member', ...names, 'status', 'attempts', 'duration', 'reason'],
    ...members.map((member) => [
      member.name,
      ...names.map((name) => member.params?.[name] ?? '-'),
      member.status,
      String(member.attempts),
      durationText(member),
      reasonText(member),
    ]),
  ];
}

export function summaryCounts(summary: BatchSummary): string {
  const count = (status: string) => summary.experiments.filter((experiment) => experiment.status === status).length;
  const skipped = count('skipped');
  return (
    `${count('completed')} completed, ${count('failed')} failed, ${count('cancelled')} cancelled` +
    (skipped ? `, ${skipped} skipped` : '')
  );
}

/** The summary as Markdown: plain experiments in one table, then each sweep under its own heading with its counts. */
export function summaryMarkdown(summary: BatchSummary): string {
  const row = (cells: readonly string[]) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  const table = ([columns, ...rows]: string[][]) => [row(columns), row(columns.map(() => '---')), ...rows.map(row)];
  const { plain, sweeps } = groupBySweep(summary.experiments);
  return [
    `# Batch ${summary.batchId}`,
    '',
    summaryCounts(summary),
    '',
    ...codeMarkdown(summary),
    ...(plain.length || !sweeps.length
      ? [...table([[...SUMMARY_COLUMNS], ...summaryRows({ ...summary, experiments: plain })]), '']
      : []),
    ...sweeps.flatMap(({ sweep, members }) => [
      `## ${sweep}`,
      '',
      sweepCountsText(members),
      '',
      ...table(sweepTable(members)),
      '',
    ]),
  ].join('\n');
}

/** What code ran: the git state at submit, its dirty files by name, and the snapshot the runs used. */
function codeMarkdown({ code, batchId }: BatchSummary): string[] {
  if (!code) return [];
  const lines = [`Code: ${codeText(code, batchId)}`];
  if (code.dirtyCount) lines.push('', `Dirty files at submit: ${dirtyList(code)}`);
  return [...lines, ''];
}
