/**
 * Notifications: a command or webhook from the config's `notify` list, sent for the events it names.
 * The pure part: events, their idempotency keys, and what a command's environment and a webhook's body hold.
 * Workflow-safe: no Node APIs.
 */
export const NOTIFY_EVENTS = ['failed', 'completed', 'batch-end', 'quota-paused'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** The events of a notification that names none (`submit --notify-cmd`). */
export const DEFAULT_NOTIFY_EVENTS: readonly NotifyEvent[] = ['failed', 'batch-end'];

/** One entry of the config's `notify` list: exactly one of `command` and `webhook` is set. */
export interface Notification {
  on: NotifyEvent[];
  /** Run through `/bin/sh -c` in the batch's work directory. */
  command?: string;
  /** An http(s) URL that gets a JSON POST. */
  webhook?: string;
}

/** One event as sent: what happened, to what, and the key a receiver dedups by. */
export interface NotifyDetail {
  event: NotifyEvent;
  /** The batch's id; for `quota-paused`, absent (a quota serves every batch). */
  batchId?: string;
  experiment?: string;
  /** The experiment's final status, or for `batch-end` the batch's outcome. */
  status?: string;
  exitCode?: number | null;
  /** The run (attempt) the experiment ended with; its log is attempt-<run>.log. */
  run?: number;
  /** `batch-end`: how many experiments ended in each status (only those with any). */
  counts?: Record<string, number>;
  /** `quota-paused`: the quota, and until when it is paused (epoch ms). */
  quota?: string;
  pausedUntil?: number;
  idempotencyKey: string;
}

/** What the notify activity gets: the notification, the event, and the work directory its logs live in. */
export interface Delivery {
  notification: Notification;
  detail: NotifyDetail;
  /** The batch's work directory: a command runs there, and the run's log path is found from it. */
  workDir?: string;
}

/**
 * The same for every attempt of a delivery, and across a worker crash: made only from the workflow's history.
 * `<workflow id>:<event>[:<experiment>:<run>]`, or `<workflow id>:quota-paused:<paused until>`.
 */
export function notifyKey(workflowId: string, event: NotifyEvent, ...parts: (string | number)[]): string {
  return [workflowId, event, ...parts].join(':');
}

/** The notifications that want `event`. */
export function notificationsFor(notifications: readonly Notification[], event: NotifyEvent): Notification[] {
  return notifications.filter((notification) => notification.on.includes(event));
}

/** How a notification is named in messages: `command "mail …"` or `webhook http://…`. */
export function describeNotification(notification: Notification): string {
  return notification.webhook !== undefined ? `webhook ${notification.webhook}` : `command "${notification.command}"`;
}

const countsText = (counts: NotifyDetail['counts']) =>
  Object.entries(counts ?? {})
    .map(([status, count]) => `${status}=${count}`)
    .join(',');

/** One line a person reads (Slack's `text`). */
export function notificationText(detail: NotifyDetail): string {
  switch (detail.event) {
    case 'failed':
    case 'completed': {
      const exit = detail.exitCode === null || detail.exitCode === undefined ? '' : `, exit code ${detail.exitCode}`;
      return `[staged] ${detail.experiment} ${detail.event} in batch ${detail.batchId} (attempt ${detail.run}${exit})`;
    }
    case 'batch-end': {
      const counts = Object.entries(detail.counts ?? {})
        .map(([status, count]) => `${count} ${status}`)
        .join(', ');
      return `[staged] batch ${detail.batchId} ended: ${detail.status} (${counts || 'no experiments'})`;
    }
    case 'quota-paused':
      return `[staged] quota ${detail.quota} paused by a 429 until ${new Date(detail.pausedUntil ?? 0).toISOString()}`;
  }
}

/** A command's environment, on top of the worker's; a variable with nothing to say is empty. */
export function notificationEnvironment(detail: NotifyDetail, log: string | undefined): Record<string, string> {
  const text = (value: string | number | null | undefined) => (value === null || value === undefined ? '' : `${value}`);
  return {
    STAGED_EVENT: detail.event,
    STAGED_BATCH_ID: text(detail.batchId),
    STAGED_EXPERIMENT: text(detail.experiment),
    STAGED_STATUS: text(detail.status),
    STAGED_EXIT_CODE: text(detail.exitCode),
    STAGED_LOG: text(log),
    STAGED_COUNTS: countsText(detail.counts),
    STAGED_QUOTA: text(detail.quota),
    STAGED_NOTIFY_ID: detail.idempotencyKey,
  };
}

/** A webhook's JSON body: Slack-compatible `text`, then the structured fields. */
export function webhookPayload(detail: NotifyDetail, log: string | undefined): Record<string, unknown> {
  return {
    text: notificationText(detail),
    ...detail,
    ...(log !== undefined ? { log } : {}),
  };
}

/** Bounds one POST; the activity's start-to-close timeout for a webhook is a little longer. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** Bounds one run of a command; the activity's start-to-close timeout for a command is a little longer. */
export const COMMAND_TIMEOUT_MS = 60_000;

/** Failed deliveries a batch keeps for `status`: the latest, so its state stays small. */
export const KEPT_NOTIFY_FAILURES = 10;
