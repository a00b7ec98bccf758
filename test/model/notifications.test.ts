/** Notifications, the pure part: the config's `notify` list, the idempotency key, a command's environment, a body. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeChanges } from '../../src/cli/display/events.js';
import { notifyFailureLines } from '../../src/cli/display/render.js';
import { loadProjectConfig } from '../../src/config.js';
import { BadInputError } from '../../src/errors.js';
import { newBatchState } from '../../src/model/batch-state.js';
import { packBatchState, unpackBatchState } from '../../src/model/packed-state.js';
import type { BatchSettings } from '../../src/model/types.js';
import {
  notificationEnvironment,
  notificationsFor,
  notificationText,
  notifyKey,
  webhookPayload,
  type NotifyDetail,
} from '../../src/model/notifications.js';

let dir: string;
beforeAll(async () => (dir = await mkdtemp(path.join(tmpdir(), 'staged-notify-'))));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function configWith(notify: unknown) {
  await writeFile(path.join(dir, 'staged.config.json'), JSON.stringify({ notify }));
  return loadProjectConfig(dir);
}

test('a notify list is read as written', async () => {
  const notify = [
    { on: ['failed', 'batch-end'], command: 'notify-send "$STAGED_EXPERIMENT"' },
    { on: ['completed'], webhook: 'https://hooks.example.com/T0/B0' },
  ];
  expect((await configWith(notify)).notifications).toEqual(notify);
});

test.each([
  ['no event', [{ on: [], command: 'true' }], 'name at least one event'],
  ['an unknown event', [{ on: ['finished'], command: 'true' }], 'failed'],
  ['both targets', [{ on: ['failed'], command: 'true', webhook: 'http://x' }], 'exactly one of'],
  ['no target', [{ on: ['failed'] }], 'exactly one of'],
  ['an empty command', [{ on: ['failed'], command: '  ' }], 'may not be empty'],
  ['a webhook that is no URL', [{ on: ['failed'], webhook: 'hooks.example.com' }], 'http:// or https://'],
  ['a webhook of another scheme', [{ on: ['failed'], webhook: 'ftp://example.com/x' }], 'http:// or https://'],
  ['an unknown key', [{ on: ['failed'], command: 'true', mail: 'me@example.com' }], 'mail'],
  ['not a list', { on: ['failed'], command: 'true' }, 'notify'],
])('%s is bad input naming the file', async (_, notify, message) => {
  const loading = configWith(notify);
  await expect(loading).rejects.toThrow(BadInputError);
  await expect(loading).rejects.toThrow(message);
  await expect(loading).rejects.toThrow('staged.config.json');
});

test('no notify list: none', async () => {
  await writeFile(path.join(dir, 'staged.config.json'), '{}');
  expect((await loadProjectConfig(dir)).notifications).toEqual([]);
});

test('the key is made from the history only: the same for every attempt', () => {
  expect(notifyKey('batch-1', 'failed', 'exp3_x', 2)).toBe('batch-1:failed:exp3_x:2');
  expect(notifyKey('batch-1', 'batch-end')).toBe('batch-1:batch-end');
  expect(notifyKey('staged/quota/yahoo', 'quota-paused', 1_700_000_000_000)).toBe(
    'staged/quota/yahoo:quota-paused:1700000000000',
  );
});

test('a notification gets only the events it names', () => {
  const onFailure = { on: ['failed' as const], command: 'a' };
  const onEnd = { on: ['batch-end' as const, 'completed' as const], webhook: 'http://b' };
  expect(notificationsFor([onFailure, onEnd], 'completed')).toEqual([onEnd]);
  expect(notificationsFor([onFailure, onEnd], 'quota-paused')).toEqual([]);
});

const failed: NotifyDetail = {
  event: 'failed',
  batchId: 'batch-1',
  experiment: 'exp3_broken',
  status: 'failed',
  exitCode: 3,
  run: 2,
  idempotencyKey: 'batch-1:failed:exp3_broken:2',
};
const ended: NotifyDetail = {
  event: 'batch-end',
  batchId: 'batch-1',
  status: 'failed',
  counts: { completed: 4, failed: 1 },
  idempotencyKey: 'batch-1:batch-end',
};
const log = '/w/.staged/logs/batch-1/exp3_broken/attempt-2.log';

test.each([
  [
    'failed',
    failed,
    log,
    {
      STAGED_EVENT: 'failed',
      STAGED_BATCH_ID: 'batch-1',
      STAGED_EXPERIMENT: 'exp3_broken',
      STAGED_STATUS: 'failed',
      STAGED_EXIT_CODE: '3',
      STAGED_LOG: log,
      STAGED_COUNTS: '',
      STAGED_QUOTA: '',
      STAGED_NOTIFY_ID: 'batch-1:failed:exp3_broken:2',
    },
  ],
  [
    'batch-end',
    ended,
    undefined,
    {
      STAGED_EVENT: 'batch-end',
      STAGED_BATCH_ID: 'batch-1',
      STAGED_EXPERIMENT: '',
      STAGED_STATUS: 'failed',
      STAGED_EXIT_CODE: '',
      STAGED_LOG: '',
      STAGED_COUNTS: 'completed=4,failed=1',
      STAGED_QUOTA: '',
      STAGED_NOTIFY_ID: 'batch-1:batch-end',
    },
  ],
])("a command's environment for %s", (_, detail, logFile, env) => {
  expect(notificationEnvironment(detail, logFile)).toEqual(env);
});

test.each([
  [failed, log, '[staged] exp3_broken failed in batch batch-1 (attempt 2, exit code 3)'],
  [ended, undefined, '[staged] batch batch-1 ended: failed (4 completed, 1 failed)'],
])("a webhook's body: Slack's text, the fields and the key", (detail, logFile, text) => {
  expect(webhookPayload(detail, logFile)).toEqual({ text, ...detail, ...(logFile ? { log: logFile } : {}) });
  expect(notificationText(detail)).toBe(text);
});

test('a batch carries its notifications and failures through pack and unpack; one without carries neither', () => {
  const state = newBatchState('batch-1', [], {} as BatchSettings, 1_700_000_000_000);
  expect(packBatchState(state)).not.toHaveProperty('notifications');
  state.notifications = [{ on: ['failed'], webhook: 'http://127.0.0.1:9/x' }];
  state.notifyFailures = ['failed: webhook http://127.0.0.1:9/x (batch-end) 3 attempts: ECONNREFUSED'];
  expect(unpackBatchState(packBatchState(state))).toEqual(state);
});

test('watch prints each notification that newly failed; status lists the kept ones', () => {
  const before = newBatchState('batch-1', [], {} as BatchSettings, 1_700_000_000_000);
  const first = 'failed: webhook http://127.0.0.1:9/x (failed of exp3_broken) 3 attempts: ECONNREFUSED';
  const second = 'failed: command "false" (batch-end) 3 attempts: exit code 1';
  const after = { ...before, notifyFailures: [first, second] };
  expect(describeChanges({ ...before, notifyFailures: [first] }, after, Date.now())).toEqual([`[NOTIFY] ${second}`]);
  expect(notifyFailureLines(after.notifyFailures)).toEqual([`  [NOTIFY] ${first}`, `  [NOTIFY] ${second}`]);
});
