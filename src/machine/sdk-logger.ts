/**
 * The SDK runtime's logger in a worker: the SDK's own, less one warning.
 * Why a filter: the SDK warns at the start of every Worker without workflows and has no option to say that is meant.
 */
import { DefaultLogger, type LogLevel, type LogMetadata } from '@temporalio/worker';

/** The SDK's warning, word for word (@temporalio/worker 1.24, `Worker.workflow$`). */
export const NO_WORKFLOWS_WARNING = 'No workflows registered, not polling for workflow tasks';

/** Task queues whose SDK Workers run activities only, on purpose. */
const activityOnlyQueues = new Set<string>();

/** Says that the SDK Worker about to be made for this task queue runs activities only; returns the queue. */
export function activityOnlyQueue(taskQueue: string): string {
  activityOnlyQueues.add(taskQueue);
  return taskQueue;
}

/** Logs as DefaultLogger does, but the warning for the task queues given to `activityOnlyQueue`. */
export class WorkerLogger extends DefaultLogger {
  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const taskQueue: unknown = meta?.taskQueue;
    if (message === NO_WORKFLOWS_WARNING && typeof taskQueue === 'string' && activityOnlyQueues.has(taskQueue)) return;
    super.log(level, message, meta);
  }
}
