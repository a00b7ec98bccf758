/** The last heartbeat of a run lost to its heartbeat timeout, read from the end of its experiment's history. */
import { msNumberToTs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import { lastHeardBeforeTimeout } from '../../src/batch-client/lost-heartbeat.js';

const { EventType, TimeoutType } = proto.temporal.api.enums.v1;
const HEARTBEAT_TIMEOUT_MS = 30_000;
const LOST_AT_S = 1_800_000_000;
const PAYLOAD = { metadata: { encoding: new Uint8Array([1]) }, data: new Uint8Array([2]) };

const at = (seconds: number) => msNumberToTs(seconds * 1000 + 250);
const timedOut = (timeoutType: proto.temporal.api.enums.v1.TimeoutType) => ({
  eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
  eventTime: at(LOST_AT_S),
  activityTaskTimedOutEventAttributes: {
    failure: { timeoutFailureInfo: { timeoutType, lastHeartbeatDetails: { payloads: [PAYLOAD] } } },
  },
});
const adoptionScheduled = { eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, eventTime: at(LOST_AT_S + 1) };
const workflowTask = { eventType: EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, eventTime: at(LOST_AT_S + 1) };
const failed = { eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, eventTime: at(LOST_AT_S + 5) };

test('a heartbeat timeout: the last details, heard one heartbeat timeout before the timeout fired', () => {
  const newestFirst = [adoptionScheduled, workflowTask, timedOut(TimeoutType.TIMEOUT_TYPE_HEARTBEAT)];
  expect(lastHeardBeforeTimeout(newestFirst, HEARTBEAT_TIMEOUT_MS)).toEqual({
    payload: PAYLOAD,
    heardAt: LOST_AT_S * 1000 + 250 - HEARTBEAT_TIMEOUT_MS,
  });
});

test('only the newest activity end counts: an adoption that failed since was an answer from a worker', () => {
  const newestFirst = [adoptionScheduled, failed, workflowTask, timedOut(TimeoutType.TIMEOUT_TYPE_HEARTBEAT)];
  expect(lastHeardBeforeTimeout(newestFirst, HEARTBEAT_TIMEOUT_MS)).toBeUndefined();
});

test('no activity end, or one ended by another timeout: nothing heard of', () => {
  expect(lastHeardBeforeTimeout([adoptionScheduled, workflowTask], HEARTBEAT_TIMEOUT_MS)).toBeUndefined();
  const scheduleToStart = [adoptionScheduled, timedOut(TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START)];
  expect(lastHeardBeforeTimeout(scheduleToStart, HEARTBEAT_TIMEOUT_MS)).toBeUndefined();
});
