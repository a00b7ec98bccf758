/**
 * A batch's notifications: starts the `notify` activity for each event a notification asks for, keeps what is
 * still being sent (the batch waits for it before it continues as new or returns), and records what failed for good.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  log,
  patched,
  proxyActivities,
} from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import type { StagedActivities } from '../activities/index.js';
import { countByStatus, isFinal } from '../model/batch-state.js';
import {
  COMMAND_TIMEOUT_MS,
  describeNotification,
  KEPT_NOTIFY_FAILURES,
  notificationsFor,
  notifyKey,
  type Notification,
  type NotifyDetail,
  type NotifyEvent,
  WEBHOOK_TIMEOUT_MS,
} from '../model/notifications.js';
import { TEMPORAL_PRIORITY_KEY, type BatchState } from '../model/types.js';

/** Batches with notifications send them; only batches submitted since carry any. */
export const NOTIFY_PATCH = 'notify';

/** Attempts of one delivery, one second apart at first and doubling: a hook down for good costs under a minute. */
export const NOTIFY_ATTEMPTS = 3;

/** The activity proxies for a webhook and for a command: each bounded a little above its own timeout. */
export function notifyActivity(notification: Notification, taskQueue: string): StagedActivities['notify'] {
  const timeoutMs = (notification.webhook !== undefined ? WEBHOOK_TIMEOUT_MS : COMMAND_TIMEOUT_MS) + 5_000;
  return proxyActivities<StagedActivities>({
    taskQueue,
    startToCloseTimeout: timeoutMs,
    priority: { priorityKey: TEMPORAL_PRIORITY_KEY.critical },
    retry: { maximumAttempts: NOTIFY_ATTEMPTS, initialInterval: '1 second', backoffCoefficient: 2 },
  }).notify;
}

/** `3 attempts: ECONNREFUSED`, or why it was not tried again. */
export function failureReason(err: unknown): string {
  if (!(err instanceof ActivityFailure)) return err instanceof Error ? err.message : String(err);
  const cause = err.cause instanceof ApplicationFailure || err.cause instanceof Error ? err.cause.message : '';
  const tries = err.retryState === RetryState.MAXIMUM_ATTEMPTS_REACHED ? `${NOTIFY_ATTEMPTS} attempts` : 'not retried';
  return `${tries}: ${cause || err.message}`;
}

export class BatchNotifier {
  private readonly pending = new Set<Promise<void>>();
  /** Experiments whose end was notified (or needs none): an end is seen more than once (signal, then result). */
  private readonly ended = new Set<number>();

  /** Undefined for a batch without notifications: it issues no command of its own, not even the patch marker. */
  static of(state: BatchState, workflowId: string): BatchNotifier | undefined {
    if (!state.notifications?.length || !patched(NOTIFY_PATCH)) return undefined;
    return new BatchNotifier(state, workflowId, state.notifications);
  }

  private constructor(
    private readonly state: BatchState,
    private readonly workflowId: string,
    private readonly notifications: Notification[],
  ) {
    // Ended in an earlier run, which waited for its deliveries before it continued as new.
    state.records.forEach((record, index) => {
      if (isFinal(record.status)) this.ended.add(index);
    });
  }

  /** Whether a delivery is still being sent. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** After an experiment's record changed: notifies its end once, if a notification wants it. */
  experimentChanged(index: number): void {
    const record = this.state.records[index];
    if (!record || !isFinal(record.status) || this.ended.has(index)) return;
    this.ended.add(index);
    if (record.status !== 'failed' && record.status !== 'completed') return;
    const { name } = this.state.experiments[index];
    this.send(record.status, {
      event: record.status,
      batchId: this.state.batchId,
      experiment: name,
      status: record.status,
      exitCode: record.exitCode,
      run: record.attempts,
      idempotencyKey: notifyKey(this.workflowId, record.status, name, record.attempts),
    });
  }

  /** Any end not yet notified: a record made final without a change reaching `experimentChanged`. */
  catchUp(): void {
    this.state.records.forEach((_, index) => this.experimentChanged(index));
  }

  /** Sends `batch-end` with the batch's counts, once every other delivery is done, and waits for it. */
  async batchEnded(outcome: string): Promise<void> {
    this.catchUp();
    await this.settled();
    const counts = Object.fromEntries(Object.entries(countByStatus(this.state.records)).filter(([, n]) => n > 0));
    this.send('batch-end', {
      event: 'batch-end',
      batchId: this.state.batchId,
      status: outcome,
      counts,
      idempotencyKey: notifyKey(this.workflowId, 'batch-end'),
    });
    await this.settled();
  }

  /** Resolves once nothing is being sent, deliveries started meanwhile included. */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending);
  }

  private send(event: NotifyEvent, detail: NotifyDetail): void {
    const { workDir, taskQueue } = this.state.settings;
    for (const notification of notificationsFor(this.notifications, event)) {
      // Sent even when the batch is being cancelled: its end is worth a notification too.
      const delivery = CancellationScope.nonCancellable(() =>
        notifyActivity(notification, taskQueue)({ notification, detail, workDir }),
      ).catch((err) => this.recordFailure(notification, detail, err));
      const sending: Promise<void> = delivery.finally(() => this.pending.delete(sending));
      this.pending.add(sending);
    }
  }

  private recordFailure(notification: Notification, detail: NotifyDetail, err: unknown): void {
    const about = detail.experiment ? `${detail.event} of ${detail.experiment}` : detail.event;
    const line = `failed: ${describeNotification(notification)} (${about}) ${failureReason(err)}`;
    log.warn('a notification failed for good', { line });
    this.state.notifyFailures = [...(this.state.notifyFailures ?? []), line].slice(-KEPT_NOTIFY_FAILURES);
  }
}
