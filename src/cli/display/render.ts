/** Text the CLI prints: the header, the periodic status line, the final summary, the batch list and the dry run. */
import {
  PRIORITIES,
  STOP_MARGIN_MS,
  type BatchState,
  type BatchSummary,
  type ExperimentSpec,
} from '../../model/types.js';
import { SUMMARY_COLUMNS, summaryCounts, summaryRows } from '../../model/summary-table.js';
import type { LiveBatchView, LiveExperimentView, NoWorkerView, StoppingView } from './batch-view.js';
import { formatDuration } from '../../parse/duration.js';
import type { BatchListing, SharedMachine } from '../../batch-client/index.js';
import type { QuotaPlan } from '../../quota/plan.js';
import type { QuotaView } from '../../budget/slots.js';
import { textTable } from './table.js';
import { DEFAULT_WARN_SIGNAL } from '../../parse/signal.js';
import { codeLine, codeText } from '../../model/code.js';
import { sweepSizeLines, sweepStatusLines, sweepSummaryLines, withoutFoldedFailures } from './sweep-lines.js';
import { formatUnits } from '../../model/units.js';

const RULE = '='.repeat(70);

function priorityCounts(experiments: readonly ExperimentSpec[]): string[] {
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
    ...(settings.timeoutMs !== null ? [`Timeout: ${timeoutText(settings)}`] : []),
    `Queue Size: ${experiments.length}`,
    ...(settings.code ? [`Code: ${codeText(settings.code, state.batchId)}`] : []),
    ...(webUi ? [`Web UI: ${webUi}`] : []),
    RULE,
    '',
    `[OK] Loaded ${experiments.length} experiment${experiments.length === 1 ? '' : 's'} into queue`,
    ...priorityCounts(experiments).map((line) => `     ${line}`),
    ...sweepSizeLines(experiments).map((line) => `     ${line}`),
    '',
  ];
}

/** `2h`, or `2h (SIGUSR1 5m before)` with `--signal-before`. */
function timeoutText({ timeoutMs, signalBeforeMs, warnSignal }: BatchState['settings']): string {
  const timeout = formatDuration(timeoutMs ?? 0);
  if (signalBeforeMs === undefined) return timeout;
  return `${timeout} (${warnSignal ?? DEFAULT_WARN_SIGNAL} ${formatDuration(signalBeforeMs)} before)`;
}

/** `status` with no worker answering for the batch: why, where a worker should poll, and what the rest shows. */
/** `runsGoOn`: some experiment is running (its run outlives the worker for a while). */
export function noWorkerLines(
  noWorker: NoWorkerView,
  now: number,
  waitedMs: number,
  startWorker: string,
  runsGoOn: boolean,
): string[] {
  const { taskQueue, lastPollAt, lastPoller, polledRecently, lastPollerExited } = noWorker;
  const ago = lastPollAt === null ? '' : formatDuration(Math.max(0, now - Date.parse(lastPollAt)));
  const exited = lastPollerExited ? ', a process of this machine that has exited' : '';
  const lastPoll = lastPollAt === null ? 'no poll in the last 5 min' : `last poll ${ago} ago by ${lastPoller}${exited}`;
  const why = polledRecently
    ? `[NO WORKER] No worker answered for the batch within ${formatDuration(waitedMs)} ` +
      `(task queue "${taskQueue}": ${lastPoll}; a worker that just stopped still shows there for a minute)`
    : `[NO WORKER] No worker polls task queue "${taskQueue}" (${lastPoll})`;
  const runs = runsGoOn
    ? '; a run shown running may have ended since (only its worker reports that), and the next worker of its ' +
      'machine adopts it within its adoption window'
    : '';
  return [
    why,
    // A recent poller may be a slow worker rather than a dead one: what follows holds only if it stopped.
    polledRecently
      ? `  If that worker stopped, nothing new starts${runs}; start a worker with: ${startWorker}`
      : `  Nothing new starts${runs}. Start a worker with: ${startWorker}`,
    ...(noWorker.cancelRequested
      ? ['  [CANCEL] asked for: once a worker runs the batch, nothing queued starts and its running runs stop']
      : []),
    "  Below: the batch as Temporal keeps it (its experiments' workflows), not a worker's answer",
  ];
}

/** Experiments waiting for others, listed one per line before the rest are counted. */
const MAX_WAITING_LINES = 5;

/** `allMembers`: list every member of each sweep (`status --members`), not only running ones and MEMBER_LINES more. */
export function statusLines(view: LiveBatchView, allMembers = false): string[] {
  const { counts } = view;
  const eta = view.eta ? ` | ETA: ${formatDuration(view.eta.seconds * 1000)}` : '';
  const lines = [
    `[STATUS] Queue: ${counts.queued} | Running: ${counts.running + counts.retrying} | ` +
      `Completed: ${counts.completed} | Failed: ${counts.failed}` +
      (counts.cancelled ? ` | Cancelled: ${counts.cancelled}` : '') +
      (counts.held ? ` | Held: ${counts.held}` : '') +
      (counts.skipped ? ` | Skipped: ${counts.skipped}` : '') +
      (counts['waiting-quota'] ? ` | Waiting for quota: ${counts['waiting-quota']}` : '') +
      eta,
  ];
  const runningNow = counts.running + counts.retrying;
  if (runningNow > view.maxConcurrent) {
    lines.push(
      `  [LIMIT] max concurrent is ${view.maxConcurrent}: running ones finish, nothing new starts until fewer run`,
    );
  }
  if (view.pausedSince !== null) {
    const since = formatDuration(Math.max(0, Date.now() - Date.parse(view.pausedSince)));
    lines.push(`  [PAUSED] for ${since}: nothing new starts until resume`);
  }
  for (const { name, pausedSince } of view.experiments) {
    if (pausedSince === undefined) continue;
    const since = formatDuration(Math.max(0, Date.now() - Date.parse(pausedSince)));
    lines.push(`  [PAUSED] ${name} for ${since}: its run is frozen until resume`);
  }
  if (counts.held && counts.held === counts.queued + counts.held && !running(view).length)
    lines.push(`  [HELD] only held experiments are left: the batch waits until they are released`);
  const waiting = view.experiments.filter((experiment) => experiment.waitingFor);
  for (const { name, waitingFor } of waiting.slice(0, MAX_WAITING_LINES)) {
    lines.push(`  [WAIT] ${name} waits for ${waitingFor!.join(', ')}`);
  }
  if (waiting.length > MAX_WAITING_LINES) {
    lines.push(`  [WAIT] … and ${waiting.length - MAX_WAITING_LINES} more wait for other experiments`);
  }
  for (const quota of view.quotas ?? []) lines.push(`  ${quotaLine(quota, Date.now())}`);
  for (const { name, needs, reason } of view.waiting ?? []) lines.push(`  [WAIT] ${name} needs ${needs}: ${reason}`);
  for (const machine of view.sharedMachines ?? []) lines.push(`  ${sharedMachineLine(machine)}`);
  lines.push(...notifyFailureLines(view.notifyFailures));
  const live = running(view).filter((experiment) => experiment.sweep === undefined);
  if (live.length) {
    lines.push('  Currently running:');
    for (const experiment of live) lines.push(`    - ${experiment.name} (${runningDetails(experiment)})`);
  }
  lines.push(...sweepStatusLines(view.experiments, view.batchId, allMembers, runningDetails));
  return lines;
}

/**
 * `[WORKERS] 2 live workers of machine box count the same runs (pid 11 --slots 3, pid 12 --slots 2): …`: their
 * slots are not added up, whatever each one's --slots suggests.
 */
export function sharedMachineLine({ machineId, workers, atOnce }: SharedMachine): string {
  const who = workers.map(({ pid, slots }) => `pid ${pid} --slots ${slots}`).join(', ');
  return (
    `[WORKERS] ${workers.length} live workers of machine ${machineId} count the same runs (${who}): each counts ` +
    `every run alive there against its own --slots, so together they run at most ${atOnce} at once, as one worker ` +
    `with --slots ${atOnce} would; run one worker per machine (docs/resources.md, "Limits")`
  );
}

/** `  [NOTIFY] failed: webhook http://… (batch-end) 3 attempts: ECONNREFUSED` */
export function notifyFailureLines(failures: readonly string[] | undefined): string[] {
  return (failures ?? []).map((failure) => `  [NOTIFY] ${failure}`);
}

function running(view: LiveBatchView): LiveExperimentView[] {
  return view.experiments.filter((experiment) => experiment.status === 'running' || experiment.status === 'retrying');
}

/** `[QUOTA] yahoo: 39000 calls planned by 12 experiments at 2000/1.0h: at least 19.0h (3 without a Calls: line)` */
/** `[QUOTA] yahoo: 1,200 calls planned by 5 experiment(s) at 100/5.0s: at least 55.0s (800 from Calls: lines, ...)` */
export function quotaPlanLine(plan: QuotaPlan): string {
  const count = (calls: number) => calls.toLocaleString('en-US');
  const sources = [
    ...(plan.fromCallsLines ? [`${count(plan.fromCallsLines)} from Calls: lines`] : []),
    ...(plan.measuredEarlier ? [`${count(plan.measuredEarlier)} measured in earlier batches`] : []),
  ].join(', ');
  const unknown = plan.withoutEstimate ? `${plan.withoutEstimate} experiment(s) without an estimate, not counted` : '';
  const detail = [sources, unknown].filter(Boolean).join('; ');
  const limit = `${plan.limit}/${formatDuration(plan.windowMs)}`;
  return (
    `[QUOTA] ${plan.name}: ${count(plan.calls)} calls planned by ${plan.experiments} experiment(s) at ${limit}: ` +
    `at least ${formatDuration(plan.leastMs)}${detail ? ` (${detail})` : ''}`
  );
}

/** `[QUOTA] yahoo: 37/1500 calls in the last 1.0h, paused 12.0s more, …, 3/3 experiments at once, 4 waiting` */
export function quotaLine(quota: QuotaView, now: number): string {
  const window = formatDuration(quota.windowMs);
  const parts = [`[QUOTA] ${quota.name}: ${quota.callsInWindow}/${quota.effectiveLimit} calls in the last ${window}`];
  if (quota.pausedUntil !== null) parts.push(`paused ${formatDuration(Math.max(0, quota.pausedUntil - now))} more`);
  if (quota.effectiveLimit < quota.limit) {
    parts.push(`limit lowered from ${quota.limit} after 429s (raised by each window used without a 429)`);
  }
  const { slots } = quota;
  if (slots) parts.push(`${slots.running}/${slots.maxConcurrent} experiments at once, ${slots.waiting} waiting`);
  return parts.join(', ');
}

function runningDetails(experiment: LiveExperimentView): string {
  if (experiment.status === 'retrying') return `attempt ${experiment.attempts} failed, waiting to retry`;
  const parts = [
    formatDuration((experiment.attemptElapsedSeconds ?? 0) * 1000),
    `attempt ${Math.max(1, experiment.attempts)}`,
    ...(experiment.lostRuns ? [`${experiment.lostRuns} lost`] : []),
    ...(experiment.requeues ? [`${experiment.requeues} requeued`] : []),
    ...(experiment.pausedSince !== undefined ? ['paused'] : []),
    ...(experiment.units ? [formatUnits(experiment.units)] : []),
  ];
  const { progress } = experiment;
  if (progress) {
    const units = progress.total !== undefined ? ` ${progress.done}/${progress.total}` : '';
    parts.push(`${progress.percent}%${units}`);
  }
  if (experiment.etaSeconds !== undefined && experiment.etaSeconds !== null)
    parts.push(`ETA ${formatDuration(experiment.etaSeconds * 1000)}`);
  for (const [quota, calls] of Object.entries(experiment.calls ?? {})) parts.push(`${calls} ${quota} calls`);
  if (experiment.stopping) parts.push(stoppingText(experiment.stopping));
  if (experiment.stuck) parts.push(`STUCK: ${experiment.stuck}`);
  else if (experiment.workerSilentSeconds !== undefined)
    parts.push(`no word from its worker for ${formatDuration(experiment.workerSilentSeconds * 1000)}`);
  return parts.join(', ');
}

/** A keeper that answers a stop records the end within its kill grace and this: past them, it has not answered. */
const KEEPER_ANSWER_MS = 1_000;

/** `stopping (cancelled) for 12.0s: its keeper has not answered within its kill grace (1.0s); …` */
function stoppingText(stopping: StoppingView): string {
  const stop = `stopping (${stopping.reason}) for ${formatDuration(stopping.seconds * 1000)}`;
  const grace = formatDuration(stopping.killGraceSeconds * 1000);
  if (stopping.keeperKilled)
    return `${stop}: its keeper did not answer, so its worker killed it; its guard stops the run`;
  if (stopping.seconds * 1000 <= stopping.killGraceSeconds * 1000 + KEEPER_ANSWER_MS)
    return `${stop}, kill grace ${grace}`;
  const killAt = formatDuration(stopping.killGraceSeconds * 1000 + STOP_MARGIN_MS);
  return `${stop}: its keeper has not answered within its kill grace (${grace}); its worker kills it at ${killAt}`;
}

/** `allMembers`: list every member of each sweep, not only MEMBER_LINES of them (failed ones first). */
export function summaryLines(summary: BatchSummary, allMembers = false): string[] {
  const plain = summary.experiments.filter((experiment) => experiment.sweep === undefined);
  const table = textTable([[...SUMMARY_COLUMNS], ...summaryRows({ ...summary, experiments: plain })], {
    rightAligned: [SUMMARY_COLUMNS.indexOf('attempts')],
  });
  return [
    ...failureDetails(summary, allMembers),
    '',
    RULE,
    `SUMMARY ${summary.batchId}: ${summaryCounts(summary)}`,
    ...(summary.code ? [codeLine(summary.code, summary.batchId)] : []),
    RULE,
    ...(plain.length || plain.length === summary.experiments.length ? table : []),
    ...sweepSummaryLines(summary, allMembers),
  ];
}

/** `status` without an id: the recent batches, newest first. */
/** `withQueue`: a column with each batch's task queue (`status --all-queues`). */
export function batchListLines(batches: readonly BatchListing[], withQueue = false): string[] {
  const rows = batches.map((batch) => [
    batch.startedAt,
    batch.status,
    String(batch.experiments ?? '?'),
    batch.batchId,
    ...(withQueue ? [batch.taskQueue] : []),
    batch.workDir ?? '?',
  ]);
  const head = ['started', 'state', 'experiments', 'batch', ...(withQueue ? ['task queue'] : []), 'work dir'];
  return textTable([head, ...rows], { rightAligned: [2] });
}

/** `submit --dry-run`: the queue in start order, each with its priority and why. */
export function dryRunLines(queue: readonly (ExperimentSpec & { reason: string })[]): string[] {
  const rows = queue.map((experiment, index) => [
    `${index + 1}.`,
    experiment.name,
    experiment.priority.toUpperCase(),
    experiment.reason,
  ]);
  return [
    `[DRY RUN] ${queue.length} experiment(s) would start in this order; nothing was started:`,
    ...textTable(rows, { rightAligned: [0], indent: '  ' }),
  ];
}

/** Each failed experiment's last error: what happened, its log file and the last lines of its output. */
function failureDetails(summary: BatchSummary, allMembers: boolean): string[] {
  const shown = allMembers ? summary.experiments : withoutFoldedFailures(summary.experiments);
  return shown.flatMap((experiment) => {
    if (experiment.status !== 'failed' || !experiment.error) return [];
    const [first, ...tail] = experiment.error.split('\n');
    return ['', `[FAILED] ${first}`, ...tail.map((line) => `    ${line}`)];
  });
}
