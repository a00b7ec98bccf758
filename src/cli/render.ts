/** Text the CLI prints: the header, the periodic status line and the final summary. */
import { countByStatus } from '../shared/batch-state.js';
import { PRIORITIES, type BatchState, type BatchSummary, type ExperimentSpec } from '../shared/types.js';
import { formatDuration } from './duration.js';

const RULE = '='.repeat(70);

export function priorityCounts(experiments: readonly ExperimentSpec[]): string[] {
  return PRIORITIES.map((level) => {
    const count = experiments.filter((experiment) => experiment.priority === level).length;
    return `${level[0].toUpperCase()}${level.slice(1)}: ${count}`;
  });
}

export function header(state: BatchState, webUi?: string): string[] {
  const { settings, experiments } = state;
  return [
    RULE,
    'STAGED EXPERIMENT RUNNER',
    RULE,
    `Batch: ${state.batchId}`,
    `Max Concurrent: ${settings.maxConcurrent}`,
    `Max Retries: ${settings.maxRetries}`,
    `Queue Size: ${experiments.length}`,
    ...(webUi ? [`Web UI: ${webUi}`] : []),
    RULE,
    '',
    `[OK] Loaded ${experiments.length} experiments into queue`,
    ...priorityCounts(experiments).map((line) => `     ${line}`),
    '',
  ];
}

export function statusLines(state: BatchState, now: number): string[] {
  const counts = countByStatus(state.records);
  const lines = [
    `[STATUS] Queue: ${counts.queued} | Running: ${counts.running + counts.retrying} | ` +
      `Completed: ${counts.completed} | Failed: ${counts.failed}` +
      (counts.cancelled ? ` | Cancelled: ${counts.cancelled}` : ''),
  ];
  const running = state.records.flatMap((record, index) =>
    record.status === 'running' || record.status === 'retrying' ? [{ record, experiment: state.experiments[index] }] : [],
  );
  if (running.length) {
    lines.push('  Currently running:');
    for (const { record, experiment } of running) {
      const waiting = record.status === 'retrying' ? ', waiting to retry' : '';
      lines.push(`    - ${experiment.name} (${formatDuration(now - (record.startedAt ?? now))}, attempt ${record.attempts + (waiting ? 0 : 1)}${waiting})`);
    }
  }
  return lines;
}

export function summaryLines(summary: BatchSummary): string[] {
  const count = (status: string) => summary.experiments.filter((experiment) => experiment.status === status).length;
  const nameWidth = Math.max(10, ...summary.experiments.map((experiment) => experiment.name.length));
  const rows = summary.experiments.map((experiment) => {
    const duration =
      experiment.startedAt && experiment.closedAt
        ? formatDuration(Date.parse(experiment.closedAt) - Date.parse(experiment.startedAt))
        : '-';
    return `${experiment.name.padEnd(nameWidth)}  ${experiment.priority.padEnd(8)}  ${experiment.status.padEnd(9)}  ${String(experiment.attempts).padStart(8)}  ${duration}`;
  });
  return [
    '',
    RULE,
    `SUMMARY ${summary.batchId}: ${count('completed')} completed, ${count('failed')} failed, ${count('cancelled')} cancelled`,
    RULE,
    `${'experiment'.padEnd(nameWidth)}  priority  status     attempts  duration`,
    ...rows,
  ];
}
