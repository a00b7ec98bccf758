/** A running batch as `status --json` shows it: counts, an ETA, and each experiment with its progress. */
import { statusesByName, waitingFor } from '../../model/dependencies.js';
import { countByStatus, experimentViews, isFinal, type StatusCounts } from '../../model/batch-state.js';
import { addCalls } from '../../model/calls.js';
import { groupBySweep } from '../../model/sweep-groups.js';
import { formatDuration } from '../../parse/duration.js';
import { batchEtaMs, runLeftMs } from './eta.js';
import type { CodeState } from '../../model/code.js';
import type { Progress } from '../../model/progress.js';
import type { QuotaView } from '../../budget/slots.js';
import type { WaitingExperiment } from '../../batch-client/machines.js';
import type { SharedMachine } from '../../batch-client/shared-machines.js';
import {
  DEFAULT_ADOPT_WINDOW_MS,
  type BatchState,
  type ExperimentView,
  type RunHeartbeat,
  type RunStopHeartbeat,
} from '../../model/types.js';

export interface LiveExperimentView extends ExperimentView {
  /** Only while running: the current attempt's progress (null before it reports any). */
  progress?: Progress | null;
  attemptElapsedSeconds?: number;
  etaSeconds?: number | null;
  /** Only when the run's worker has not been heard from for a while (crashed, cut off, restarting). */
  workerSilentSeconds?: number;
  /** Only when no worker has held the run for longer than its adoption window: no process of it is alive. */
  stuck?: string;
  /** Calls by quota: its ended runs' and, while running, the current run's so far (from its heartbeat). */
  calls?: Record<string, number>;
  /** Queued: the experiments it still waits for (`After:` lines); absent when none. */
  waitingFor?: string[];
  /** Since when its run is frozen (`pause <batchId> <exp>`), as an ISO time; absent while it runs on. */
  pausedSince?: string;
  /** Only while running: the named units its run holds (`{ gpu: ['2', '3'] }`); absent when none. */
  units?: Record<string, string[]>;
  /** Only while its worker stops its run (cancel, `--on-shutdown stop`), as the worker's heartbeats say. */
  stopping?: StoppingView;
}

export interface StoppingView {
  reason: 'cancelled' | 'shutdown';
  /** When the worker asked the run's keeper to stop, as an ISO time, and how long ago. */
  askedAt: string;
  seconds: number;
  killGraceSeconds: number;
  /** The keeper had not recorded the end within its kill grace and 10 s more: its worker killed it. */
  keeperKilled: boolean;
}

export interface LiveBatchView {
  batchId: string;
  status: string;
  counts: StatusCounts;
  /** The batch's limits as they stand (`change` may have changed them since submit). */
  maxConcurrent: number;
  maxRetries: number;
  /** Since when the batch starts nothing new (`pause`), as an ISO time; null while it runs on. */
  pausedSince: string | null;
  /** Time left for the whole batch (compute or quotas, the later); null until known. */
  eta: { seconds: number; at: string } | null;
  experiments: LiveExperimentView[];
  /** The quotas the batch draws from, as their budgets stand; absent when it uses none. */
  quotas?: QuotaView[];
  /** Queued experiments whose `Requires:` no live worker meets; absent when none. */
  waiting?: WaitingExperiment[];
  /** Machines where several live workers count the same runs (they add no slots to each other); absent when none. */
  sharedMachines?: SharedMachine[];
  /** The latest notifications that failed for good; absent when none. */
  notifyFailures?: string[];
  /** The code the batch was submitted with (git state, snapshot); absent in older batches. */
  code?: CodeState;
  /** Each sweep (by its script's name) with its members' counts; absent when the batch has none. */
  sweeps?: SweepView[];
  /**
   * Only when no worker answered for the batch: the rest is the batch as Temporal keeps it (the state its current
   * run started with, and its experiments' workflows), not its worker's answer.
   */
  noWorker?: NoWorkerView;
}

export interface NoWorkerView {
  /** The task queue the batch's worker polls. */
  taskQueue: string;
  /** The newest poll of that queue Temporal remembers (5 min), as an ISO time, and by which worker; null: none. */
  lastPollAt: string | null;
  lastPoller: string | null;
  /** A worker polled within about a minute, yet none answered within a second: it may have just stopped. */
  polledRecently: boolean;
  /** The last poller was a worker of this machine whose process has exited (so it polls no more). */
  lastPollerExited: boolean;
  /** The batch's cancel was asked for: a worker carries it out. */
  cancelRequested: boolean;
}

export interface SweepView {
  sweep: string;
  members: number;
  counts: StatusCounts;
}

export function sweepViews(experiments: readonly ExperimentView[]): SweepView[] {
  return groupBySweep(experiments).sweeps.map(({ sweep, members }) => ({
    sweep,
    members: members.length,
    counts: countByStatus(members),
  }));
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;
/** Heartbeats reach the server every 2 s at most; several missed mean the worker is gone or cut off. */
const SILENT_AFTER_MS = 10_000;

/** Why a run shown running has no process any more: nobody held it for longer than its adoption window. */
export function stuckReason(run: RunHeartbeat | undefined, now: number): string | undefined {
  const since = Math.max(run?.heardAt ?? 0, run?.unheldSince ?? 0);
  if (!since || now - since <= (run?.adoptWindowMs ?? DEFAULT_ADOPT_WINDOW_MS)) return undefined;
  return `no heartbeat from its run for ${formatDuration(now - since)}`;
}

function stoppingView(stop: RunStopHeartbeat, now: number): StoppingView {
  return {
    reason: stop.reason,
    askedAt: new Date(stop.askedAt).toISOString(),
    seconds: seconds(Math.max(0, now - stop.askedAt)),
    killGraceSeconds: seconds(stop.killGraceMs),
    keeperKilled: stop.keeperKilledAt !== undefined,
  };
}

export function liveBatchView(
  state: BatchState,
  status: string,
  runs: ReadonlyMap<number, RunHeartbeat>,
  now: number,
  quotas: QuotaView[] = [],
  waiting: WaitingExperiment[] = [],
): LiveBatchView {
  const statusOf = statusesByName(state);
  const silentMsOf = (run: RunHeartbeat | undefined) => (run?.heardAt === undefined ? 0 : now - run.heardAt);
  // A run whose worker is silent shows no progress we can see: its pace so far says nothing of when it ends.
  const runsHeard = new Map([...runs].filter(([, run]) => silentMsOf(run) <= SILENT_AFTER_MS));
  const experiments = experimentViews(state).map((view, index): LiveExperimentView => {
    if (view.status === 'queued' || view.status === 'held') {
      const waiting = waitingFor(state, index, statusOf);
      return waiting.length ? { ...view, waitingFor: waiting } : view;
    }
    if (view.status !== 'running') return view;
    const run = runs.get(index);
    const elapsed = now - (run?.startedAt ?? state.records[index].startedAt ?? now);
    const { pausedSince } = state.records[index];
    const silentMs = silentMsOf(run);
    // A frozen run makes no progress: its rate so far says nothing of when it ends.
    const eta = pausedSince === undefined && runsHeard.has(index) ? runLeftMs(run, now) : undefined;
    const stuck = stuckReason(run, now);
    return {
      ...view,
      progress: run?.progress ?? null,
      attemptElapsedSeconds: seconds(elapsed),
      etaSeconds: eta === undefined ? null : seconds(eta),
      ...(silentMs > SILENT_AFTER_MS ? { workerSilentSeconds: seconds(silentMs) } : {}),
      ...(stuck ? { stuck } : {}),
      ...(run?.calls ? { calls: addCalls(view.calls, run.calls) } : {}),
      ...(pausedSince !== undefined ? { pausedSince: new Date(pausedSince).toISOString() } : {}),
      ...(run?.units ? { units: run.units } : {}),
      ...(run?.stop ? { stopping: stoppingView(run.stop, now) } : {}),
    };
  });
  const etaMs = status === 'running' && !onlyHeldLeft(state) ? batchEtaMs(state, runsHeard, now, quotas) : undefined;
  const sweeps = sweepViews(experiments);
  return {
    batchId: state.batchId,
    status,
    counts: countByStatus(state.records),
    maxConcurrent: state.settings.maxConcurrent,
    maxRetries: state.settings.maxRetries,
    pausedSince: state.pausedSince === undefined ? null : new Date(state.pausedSince).toISOString(),
    eta: etaMs === undefined ? null : { seconds: seconds(etaMs), at: new Date(now + etaMs).toISOString() },
    experiments,
    ...(quotas.length ? { quotas } : {}),
    ...(waiting.length ? { waiting } : {}),
    ...(state.notifyFailures?.length ? { notifyFailures: state.notifyFailures } : {}),
    ...(state.settings.code ? { code: state.settings.code } : {}),
    ...(sweeps.length ? { sweeps } : {}),
  };
}

/** Every experiment not ended is held: the batch waits for their release, not for a time, so it has no ETA. */
function onlyHeldLeft(state: BatchState): boolean {
  const left = state.records.filter((record) => !isFinal(record.status));
  return left.length > 0 && left.every((record) => record.status === 'held');
}
