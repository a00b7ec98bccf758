/** The worker's SDK logger leaves out the SDK's no-workflows warning for activity-only task queues, and only there. */
import type { LogEntry } from '@temporalio/worker';
import { activityOnlyQueue, NO_WORKFLOWS_WARNING, WorkerLogger } from '../../src/machine/sdk-logger.js';

test('the warning is left out for a queue said to be activity-only; said for others, other lines said for all', () => {
  const said: LogEntry[] = [];
  const logger = new WorkerLogger('INFO', (entry) => said.push(entry));
  activityOnlyQueue('q@m1');
  logger.warn(NO_WORKFLOWS_WARNING, { sdkComponent: 'worker', taskQueue: 'q@m1' });
  expect(said).toHaveLength(0);
  logger.warn(NO_WORKFLOWS_WARNING, { sdkComponent: 'worker', taskQueue: 'q' }); // a Worker meant to run workflows
  logger.warn(NO_WORKFLOWS_WARNING);
  logger.warn('Something else', { taskQueue: 'q@m1' });
  expect(said.map((entry) => [entry.message, entry.meta?.taskQueue])).toEqual([
    [NO_WORKFLOWS_WARNING, 'q'],
    [NO_WORKFLOWS_WARNING, undefined],
    ['Something else', 'q@m1'],
  ]);
});
