/** The rows of a batch's summary table, shared by the terminal and summary.md. */
import { formatDuration } from '../parse/duration.js';
import type { BatchSummary } from './types.js';
import { codeText, dirtyList } from './code.js';

/** `reason`: why the last attempt ended when it did not exit 0 (END_REASONS: exit-code, signal, … refused). */
export const SUMMARY_COLUMNS = ['experiment', 'priority', 'status', 'attempts', 'duration', 'reason'] as const;

export function summaryRows(summary: BatchSummary): string[][] {
  return summary.experiments.map((experiment) => {
    const duration =
      experiment.startedAt && experiment.closedAt
        ? formatDuration(Date.parse(experiment.closedAt) - Date.parse(experiment.startedAt))
        : '-';
    return [
      experiment.name,
      experiment.priority,
      experiment.status,
      String(experiment.attempts),
      duration,
      experiment.reason ?? '-',
    ];
  });
}

export function summaryCounts(summary: BatchSummary): string {
  const count = (status: string) => summary.experiments.filter((experiment) => experiment.status === status).length;
  const skipped = count('skipped');
  return (
    `${count('completed')} completed, ${count('failed')} failed, ${count('cancelled')} cancelled` +
    (skipped ? `, ${skipped} skipped` : '')
  );
}

export function summaryMarkdown(summary: BatchSummary): string {
  const row = (cells: readonly string[]) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  return [
    `# Batch ${summary.batchId}`,
    '',
    summaryCounts(summary),
    '',
    ...codeMarkdown(summary),
    row(SUMMARY_COLUMNS),
    row(SUMMARY_COLUMNS.map(() => '---')),
    ...summaryRows(summary).map(row),
    '',
  ].join('\n');
}

/** What code ran: the git state at submit, its dirty files by name, and the snapshot the runs used. */
function codeMarkdown({ code, batchId }: BatchSummary): string[] {
  if (!code) return [];
  const lines = [`Code: ${codeText(code, batchId)}`];
  if (code.dirtyCount) lines.push('', `Dirty files at submit: ${dirtyList(code)}`);
  return [...lines, ''];
}
