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

test("a server outage: the SDK's first retry warning said as the outage, repeats left out, its end said once", () => {
  const said: LogEntry[] = [];
  const logger = new WorkerLogger('INFO', (entry) => said.push(entry));
  const error =
    'Status { code: Unavailable, message: "tcp connect error", source: Some(tonic::transport::Error(Transport)) }';
  const retried = (call: string, times: number) =>
    logger.warn(`gRPC call ${call} retried ${times} times`, { sdkComponent: 'core', error });
  logger.serverAnswered(Date.now()); // no outage: nothing to say
  const before = Date.now();
  retried('get_system_info', 5);
  for (let times = 6; times < 40; times++) retried('poll_activity_task_queue', times);
  logger.warn('Error when recording heartbeat: Status { code: Unavailable }', { sdkComponent: 'core' });
  logger.serverAnswered(before - 1); // a call sent before the outage began: not over
  logger.warn('Something else', { sdkComponent: 'core' });
  logger.serverAnswered(Date.now());
  retried('get_system_info', 5); // a second outage is said again
  expect(said.map((entry) => [entry.level, entry.message])).toEqual([
    [
      'WARN',
      'the Temporal server does not answer (gRPC call get_system_info retried 5 times: tcp connect error); its ' +
        "SDK's warnings of retried calls and unrecorded heartbeats are left out until it answers again",
    ],
    ['WARN', 'Something else'],
    [
      'WARN',
      'the Temporal server answers again, 0s after it stopped answering (35 SDK warnings of retried calls and ' +
        'unrecorded heartbeats left out)',
    ],
    ['WARN', expect.stringMatching(/^the Temporal server does not answer \(gRPC call get_system_info retried 5/)],
  ]);
});
