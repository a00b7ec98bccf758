/**
 * The SDK runtime's logger in a worker: the SDK's own, less one warning, and a server outage said in two lines.
 * Why a filter: the SDK warns at the start of every Worker without workflows and has no option to say that is meant.
 * Why the outage lines: while the server is down, the SDK's client (sdk-core, `temporalio_client::retry`) warns for
 * every call it retries more than 5 times, several a second, and has no option to bound that; its heartbeat manager
 * warns at each heartbeat it could not record. The first says the outage; repeats are left out until it ends.
 * Why DEBUG for the SDK Workers' lifecycle: a worker runs three or more of them, each saying every state it passes.
 */
import { DefaultLogger, LogTimestamp, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { ServerContact } from './server-contact.js';

/** The SDK's warning, word for word (@temporalio/worker 1.24, `Worker.workflow$`). */
export const NO_WORKFLOWS_WARNING = 'No workflows registered, not polling for workflow tasks';

/**
 * The SDK's lines of its Workers' lifecycle, word for word (@temporalio/worker 1.24, `Worker`), kept at DEBUG: the
 * worker's own line says it is up, and `staged worker` says its stop.
 */
export const LIFECYCLE_LINES = new Set([
  'Worker state changed',
  'No Nexus services registered, not polling for Nexus tasks',
]);

/** The SDK client's warning for a call retried past 5 times (sdk-core `TonicErrorHandler::maybe_log_retry`). */
const RETRY_WARNING = /^gRPC call \w+ retried \d+ times$/;
/** The SDK's warning for a heartbeat it could not record (sdk-core `activity_heartbeat_manager`). */
const HEARTBEAT_WARNING = /^Error when recording heartbeat/;

/** Task queues whose SDK Workers run activities only, on purpose. */
const activityOnlyQueues = new Set<string>();

/** Says that the SDK Worker about to be made for this task queue runs activities only; returns the queue. */
export function activityOnlyQueue(taskQueue: string): string {
  activityOnlyQueues.add(taskQueue);
  return taskQueue;
}

/** The loggers made in this process: a worker tells them when its server answers (`watchServerAnswers`). */
const loggers = new Set<WorkerLogger>();

/** An outage the log has said: since when (epoch ms of the first retry warning), and the warnings left out since. */
interface Outage {
  since: number;
  level: LogLevel;
  leftOut: number;
}

/** Logs as DefaultLogger does, but the warning for the task queues given to `activityOnlyQueue`, and outages. */
export class WorkerLogger extends DefaultLogger {
  private outage: Outage | undefined;

  constructor(...args: ConstructorParameters<typeof DefaultLogger>) {
    super(...args);
    loggers.add(this);
  }

  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const taskQueue: unknown = meta?.taskQueue;
    if (message === NO_WORKFLOWS_WARNING && typeof taskQueue === 'string' && activityOnlyQueues.has(taskQueue)) return;
    if (level === 'INFO' && LIFECYCLE_LINES.has(message)) return super.log('DEBUG', message, meta);
    if (this.outage && (RETRY_WARNING.test(message) || HEARTBEAT_WARNING.test(message))) {
      this.outage.leftOut += 1;
      return;
    }
    if (RETRY_WARNING.test(message)) {
      const since = timeOf(meta);
      this.outage = { since, level, leftOut: 0 };
      super.log(
        level,
        `the Temporal server does not answer (${message}: ${causeOf(meta?.error)}); its SDK's warnings of retried ` +
          'calls and unrecorded heartbeats are left out until it answers again',
        meta && {
          sdkComponent: meta.sdkComponent as unknown,
          [LogTimestamp]: meta[LogTimestamp] as unknown,
        },
      );
      return;
    }
    super.log(level, message, meta);
  }

  /** The server answered a call sent at `askedAt` (epoch ms): an outage said before that is over. */
  serverAnswered(askedAt: number): void {
    const outage = this.outage;
    if (!outage || askedAt < outage.since) return;
    this.outage = undefined;
    const seconds = ((Date.now() - outage.since) / 1000).toFixed(0);
    super.log(
      outage.level,
      `the Temporal server answers again, ${seconds}s after it stopped answering ` +
        `(${outage.leftOut} SDK warnings of retried calls and unrecorded heartbeats left out)`,
    );
  }
}

const ANSWERS_CHECKED_EVERY_MS = 1_000;

/** Tells this process's loggers each second when the server last answered; stopped with the worker. */
export function watchServerAnswers(contact: Pick<ServerContact, 'lastContactAt'>): { stop(): void } {
  const timer = setInterval(() => {
    for (const logger of loggers) logger.serverAnswered(contact.lastContactAt());
  }, ANSWERS_CHECKED_EVERY_MS).unref();
  return { stop: () => clearInterval(timer) };
}

/** Epoch ms of an entry: the SDK's own timestamp (ns) when it has one, else now. */
function timeOf(meta: LogMetadata | undefined): number {
  const nanos: unknown = meta?.[LogTimestamp];
  return typeof nanos === 'bigint' ? Number(nanos / 1_000_000n) : Date.now();
}

/** `tcp connect error` from the Debug text of a tonic Status; the first 100 characters of anything else. */
function causeOf(error: unknown): string {
  const text = typeof error === 'string' ? error : error === undefined ? 'no error given' : JSON.stringify(error);
  return /message: "([^"]*)"/.exec(text)?.[1] ?? text.slice(0, 100);
}
