/** Turns two snapshots of a batch into the lines a person wants to see: START, RETRY, DONE, FAIL. */
import { REQUEUE_EXIT_CODE, type BatchState, type ExperimentRecord, type ExperimentSpec } from '../../model/types.js';
import { formatDuration } from '../../parse/duration.js';
import { sweepChangeLines } from './sweep-lines.js';

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n')[0];
}

/** Why an attempt ended, as the reason names it (`timeout`, `signal`, …), with its exit code when it has one. */
function exitText(record: ExperimentRecord): string {
  const code = record.exitCode === null ? 'no exit code' : `exit ${record.exitCode}`;
  if (record.reason === undefined || record.reason === 'exit-code') return code;
  return record.exitCode === null ? record.reason : `${record.reason}, ${code}`;
}

/**
 * A lost run's line. `worker-lost` is recorded for any run stopped without an end of its own (its worker lost,
 * shut down, or its keeper died), so the cause comes from the record's error text, never from the reason's name.
 */
function lostLine(label: string, attempt: number, record: ExperimentRecord): string {
  return `[LOST] ${label} attempt ${attempt} was lost${lostCause(record.error)}; it runs again (no retry used)`;
}

/** The cause of a lost run as its error text gives it (run-experiment.ts names a keeper's end in brackets). */
function lostCause(error: string | undefined): string {
  const text = firstLine(error);
  if (text === '') return '';
  const end = /\((abandoned|shutdown)(?:; (.*))?\)/.exec(text);
  if (!end) return ` (${text})`;
  const cause =
    end[1] === 'abandoned' ? 'its keeper died without recording an end' : 'its worker stopped it while shutting down';
  return end[2] ? `: ${cause}; ${end[2]}` : `: ${cause}`; // what outlived the stop, when something did
}

/** Reasons of a failed attempt, retried under `--max-retries`. */
const FAILED_REASONS = new Set(['exit-code', 'signal', 'timeout']);

/**
 * Attempts that ended between two snapshots (the view could not reach the server, say): the events are worked out
 * from snapshots, so they would get no line. While the next attempt runs, the record still holds how the last of
 * them ended; of earlier ones it keeps only counts.
 */
function unseenEnds(
  experiment: ExperimentSpec,
  before: ExperimentRecord | undefined,
  after: ExperimentRecord,
): string[] {
  const label = experiment.name;
  if (!before) return [];
  const first = before.status === 'running' ? before.attempts : before.attempts + 1;
  const last = after.attempts - 1;
  if (last < first) return [];
  const lines: string[] = [];
  let told = 0;
  if (after.status === 'running') {
    // A requeue is told by its own [REQUEUE] line.
    const requeued =
      (after.requeues ?? 0) > (before.requeues ?? 0) &&
      (after.reason === undefined || after.exitCode === REQUEUE_EXIT_CODE);
    const line = requeued ? undefined : endBeforeRun(label, last, after, (experiment.quotas?.length ?? 0) > 0);
    if (line) lines.push(line);
    told = requeued || line ? 1 : 0;
  }
  const missed = last - first + 1 - told;
  if (missed > 0) {
    const attempts = missed === 1 ? `attempt ${first}` : `attempts ${first}-${first + missed - 1}`;
    lines.unshift(`[MISSED] ${label} ${attempts} ended unseen by this view; the batch keeps only the last end`);
  }
  return lines;
}

/**
 * How attempt `attempt` ended, from the record of the next one running (it keeps the last end), if it says.
 * An experiment drawing from a quota may have been refused by its API (exit 75, a 429): run again with no retry used.
 */
function endBeforeRun(
  label: string,
  attempt: number,
  running: ExperimentRecord,
  usesQuota: boolean,
): string | undefined {
  if (running.reason === 'worker-lost') return lostLine(label, attempt, running);
  if (running.reason === undefined || !FAILED_REASONS.has(running.reason)) return undefined;
  const unseen = `attempt ${attempt} failed (${exitText(running)}), unseen by this view`;
  if (usesQuota) return `[MISSED] ${label} ${unseen}; it ran again (a retry, or no retry used if its API refused it)`;
  return `[RETRY] ${label} ${unseen}; it was retried`;
}

export function describeChanges(previous: BatchState | undefined, next: BatchState, now: number): string[] {
  const lines = previous ? batchChanges(previous, next) : [];
  // By name: queued experiments move within the batch when it is changed (`add`, `change`).
  const earlier = new Map(previous?.experiments.map((experiment, index) => [experiment.name, index]));
  next.experiments.forEach((experiment, index) => {
    const earlierIndex = earlier.get(experiment.name);
    const before = earlierIndex === undefined ? undefined : previous?.records[earlierIndex];
    const after = next.records[index];
    const priorityBefore = earlierIndex === undefined ? undefined : previous?.experiments[earlierIndex].priority;
    if (previous && earlierIndex === undefined) {
      lines.push(`[ADD] ${experiment.name} (Priority: ${experiment.priority.toUpperCase()}) joined the queue`);
    } else if (priorityBefore !== undefined && priorityBefore !== experiment.priority) {
      lines.push(
        `[PRIORITY] ${experiment.name}: ${priorityBefore.toUpperCase()} -> ${experiment.priority.toUpperCase()}`,
      );
    }
    lines.push(...runPauseChanges(experiment.name, before, after));
    if (before && before.status === after.status && before.attempts === after.attempts) return;
    const label = experiment.name;
    const priority = experiment.priority.toUpperCase();
    const wasQueued = !before || before.status === 'queued' || before.status === 'held';
    // A run too short to be seen running still gets its START line before its end.
    const startedUnseen =
      wasQueued && (after.status === 'retrying' || after.status === 'completed' || after.status === 'failed');
    const startedNow =
      after.status === 'running' && (before?.status !== 'running' || before.attempts !== after.attempts);
    lines.push(...unseenEnds(experiment, before, after));
    if (before && (after.requeues ?? 0) > (before.requeues ?? 0)) {
      const requeue = `requeue ${after.requeues}, it runs again (no retry used)`;
      lines.push(`[REQUEUE] ${label} checkpointed (exit ${REQUEUE_EXIT_CODE}): ${requeue}`);
    }
    if ((startedUnseen && after.attempts > 0) || startedNow) {
      const attempt = after.attempts > 1 ? `, attempt ${after.attempts}` : '';
      lines.push(`[START] ${label} (Priority: ${priority}${attempt})`);
    }
    switch (after.status) {
      case 'held':
        lines.push(`[HOLD] ${label} is held: it starts only once released`);
        break;
      case 'queued':
        if (before?.status === 'held') lines.push(`[RELEASE] ${label} is queued again`);
        if (before?.status === 'running' && after.reason === 'worker-lost')
          lines.push(lostLine(label, after.attempts, after));
        break;
      case 'waiting-quota': {
        if (after.attempts === 0) {
          lines.push(`[QUOTA] ${label} waits for a slot of its quota (maxConcurrent, shared by all batches)`);
          break;
        }
        const wait = after.retryAt ? ` in ${formatDuration(Math.max(0, after.retryAt - now))}` : '';
        lines.push(
          `[QUOTA] ${label} attempt ${after.attempts} was refused by its API (${exitText(after)}); ` +
            `it runs again${wait}, when the quota allows (no retry used)`,
        );
        break;
      }
      case 'retrying': {
        const wait = after.retryAt ? ` in ${formatDuration(Math.max(0, after.retryAt - now))}` : '';
        lines.push(`[RETRY] ${label} attempt ${after.attempts} failed (${exitText(after)}); retrying${wait}`);
        break;
      }
      case 'completed':
        lines.push(`[DONE] ${label} (Duration: ${formatDuration((after.closedAt ?? now) - (after.startedAt ?? now))})`);
        break;
      case 'failed':
        lines.push(
          `[FAIL] ${label} after ${after.attempts} attempt(s) (${exitText(after)}): ${firstLine(after.error)}`,
        );
        break;
      case 'cancelled':
        if (before) lines.push(`[CANCEL] ${label}`);
        break;
      case 'skipped':
        lines.push(`[SKIP] ${label}: ${after.error ?? 'not started'}`);
        break;
    }
  });
  lines.push(...sweepChangeLines(previous, next));
  return lines;
}

/** The same run of an experiment frozen or thawed (`pause`/`resume <batchId> <exp>`). */
function runPauseChanges(name: string, before: ExperimentRecord | undefined, after: ExperimentRecord): string[] {
  if (before?.status !== 'running' || after.status !== 'running' || before.attempts !== after.attempts) return [];
  if (before.pausedSince === undefined && after.pausedSince !== undefined)
    return [`[PAUSE] ${name}: its run is frozen, its --timeout clock stopped`];
  if (before.pausedSince !== undefined && after.pausedSince === undefined) return [`[RESUME] ${name}: its run goes on`];
  return [];
}

/** The batch's own changes: paused or resumed, its limits, its notifications that failed. */
function batchChanges(previous: BatchState, next: BatchState): string[] {
  const lines: string[] = [];
  if (previous.pausedSince === undefined && next.pausedSince !== undefined)
    lines.push('[PAUSE] the batch starts nothing new; running experiments run on');
  if (previous.pausedSince !== undefined && next.pausedSince === undefined)
    lines.push('[RESUME] the batch starts queued experiments again');
  const { maxConcurrent, maxRetries } = next.settings;
  if (previous.settings.maxConcurrent !== maxConcurrent)
    lines.push(`[CHANGE] max concurrent ${previous.settings.maxConcurrent} -> ${maxConcurrent}`);
  if (previous.settings.maxRetries !== maxRetries)
    lines.push(`[CHANGE] max retries ${previous.settings.maxRetries} -> ${maxRetries}`);
  const failed = next.notifyFailures?.filter((line) => !previous.notifyFailures?.includes(line)) ?? [];
  lines.push(...failed.map((line) => `[NOTIFY] ${line}`));
  return lines;
}
