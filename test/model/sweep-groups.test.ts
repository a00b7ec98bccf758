/** Sweep members grouped under their script, counted and folded; the summary's tables of them. */
import {
  foldMembers,
  groupBySweep,
  memberLabel,
  statusCountsText,
  sweepCountsText,
  sweepOf,
} from '../../src/model/sweep-groups.js';
import { summaryMarkdown } from '../../src/model/summary-table.js';
import { experimentViews, newBatchState, summarize } from '../../src/model/batch-state.js';
import type { ExperimentRecord, ExperimentSpec, ExperimentStatus } from '../../src/model/types.js';
import { summarySchema } from '../../src/batch-client/file-schemas.js';
import { testSettings } from '../helpers/temporal.js';

function member(lr: string, seed: number): ExperimentSpec {
  return {
    id: 'exp140',
    name: `exp140_lr_sweep[lr=${lr},seed=${seed}]`,
    file: 'exp140_lr_sweep.py',
    priority: 'high',
    params: { lr, seed: String(seed) },
  };
}

const SETTINGS = testSettings({ experimentsDir: '/e', workDir: '/w', taskQueue: 'q' });
const plain: ExperimentSpec = { id: 'exp101', name: 'exp101_base', file: 'exp101_base.py', priority: 'high' };

test('a member belongs to its script; a plain script to no sweep', () => {
  expect(sweepOf(member('1e-3', 1))).toBe('exp140_lr_sweep');
  expect(sweepOf(plain)).toBeUndefined();
  expect(memberLabel('exp140_lr_sweep[lr=1e-3,seed=1]')).toBe('[lr=1e-3,seed=1]');
});

test('members are grouped under their script in the batch order; plain experiments stay apart', () => {
  const items = [{ name: 'a', sweep: 's1' }, { name: 'p' }, { name: 'b', sweep: 's2' }, { name: 'c', sweep: 's1' }];
  const { plain: alone, sweeps } = groupBySweep(items);
  expect(alone.map((item) => item.name)).toEqual(['p']);
  expect(sweeps.map(({ sweep, members }) => [sweep, members.map((item) => item.name)])).toEqual([
    ['s1', ['a', 'c']],
    ['s2', ['b']],
  ]);
});

test('counts name only the statuses members have: done first, then running, then waiting', () => {
  const statuses: ExperimentStatus[] = ['queued', 'running', 'completed', 'completed', 'failed', 'queued'];
  const members = statuses.map((status) => ({ status }));
  expect(statusCountsText(members)).toBe('2 completed, 1 failed, 1 running, 2 queued');
  expect(sweepCountsText(members)).toBe('sweep of 6: 2 completed, 1 failed, 1 running, 2 queued');
});

test('a long sweep lists every running member, then failed ones first, up to the limit; the rest fold', () => {
  const statuses: ExperimentStatus[] = [
    ...Array<ExperimentStatus>(500).fill('completed'),
    'failed',
    ...Array<ExperimentStatus>(30).fill('running'),
    'retrying',
    'waiting-quota',
    'failed',
    ...Array<ExperimentStatus>(466).fill('queued'),
  ];
  const members = statuses.map((status, index) => ({ status, index }));
  const { listed, folded } = foldMembers(members, 10);
  expect(listed).toHaveLength(32 + 10);
  expect(listed.filter((m) => ['running', 'retrying', 'waiting-quota'].includes(m.status))).toHaveLength(32);
  expect(listed.filter((m) => m.status === 'failed')).toHaveLength(2);
  expect(listed.map((m) => m.index)).toEqual([...listed.map((m) => m.index)].sort((a, b) => a - b));
  expect(folded).toHaveLength(1000 - 42);
  expect(statusCountsText(folded)).toBe('492 completed, 466 queued');
  expect(foldMembers(members.slice(0, 5), 10).folded).toEqual([]);
});

test('summary.json carries each member with its params and sweep; a plain experiment carries neither', () => {
  const experiments = [plain, member('1e-3', 1), member('3e-4', 1)];
  const state = newBatchState('b', experiments, SETTINGS, 0);
  const views = experimentViews(state);
  expect(views[0]).not.toHaveProperty('params');
  expect(views[0]).not.toHaveProperty('sweep');
  expect(views[1]).toMatchObject({ sweep: 'exp140_lr_sweep', params: { lr: '1e-3', seed: '1' } });
  expect(Object.keys(summarize(state).experiments[2].params!)).toEqual(['lr', 'seed']);
});

test('summary.md groups members under their script, with its counts and one column per parameter', () => {
  const experiments = [plain, member('1e-3', 1), member('3e-4', 1), member('3e-4', 2)];
  const done = (closedAt: number): ExperimentRecord => ({
    status: 'completed',
    attempts: 1,
    exitCode: 0,
    startedAt: 0,
    closedAt,
  });
  const failed: ExperimentRecord = { status: 'failed', attempts: 2, exitCode: 1, reason: 'exit-code', startedAt: 0 };
  const state = {
    ...newBatchState('b-1', experiments, SETTINGS, 0),
    records: [done(1_000), done(65_000), failed, done(2_000)],
  };
  expect(summaryMarkdown(summarize(state)).split('\n')).toEqual([
    '# Batch b-1',
    '',
    '3 completed, 1 failed, 0 cancelled',
    '',
    '| experiment | priority | status | attempts | duration | reason |',
    '| --- | --- | --- | --- | --- | --- |',
    '| exp101_base | high | completed | 1 | 1.0s | - |',
    '',
    '## exp140_lr_sweep',
    '',
    'sweep of 3: 2 completed, 1 failed',
    '',
    '| member | lr | seed | status | attempts | duration | reason |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    '| exp140_lr_sweep[lr=1e-3,seed=1] | 1e-3 | 1 | completed | 1 | 1.1min | - |',
    '| exp140_lr_sweep[lr=3e-4,seed=1] | 3e-4 | 1 | failed | 2 | - | exit-code |',
    '| exp140_lr_sweep[lr=3e-4,seed=2] | 3e-4 | 2 | completed | 1 | 2.0s | - |',
    '',
  ]);
});

test('summary.md of a batch without sweeps is as before', () => {
  const state = newBatchState('b-2', [plain], SETTINGS, 0);
  expect(summaryMarkdown(summarize(state))).not.toContain('##');
  expect(summaryMarkdown(summarize(state))).toContain('| exp101_base | high | cancelled | 0 | - | - |');
});

test("a summary.json read back keeps each member's sweep and params", () => {
  const state = newBatchState('b-3', [plain, member('1e-3', 1)], SETTINGS, 0);
  const summary = summarize({
    ...state,
    records: state.records.map(() => ({ status: 'failed', attempts: 1, exitCode: 1 })),
  });
  const read = summarySchema.parse(JSON.parse(JSON.stringify(summary)));
  expect(read.experiments[1]).toMatchObject({ sweep: 'exp140_lr_sweep', params: { lr: '1e-3', seed: '1' } });
  expect(read.experiments[0]).not.toHaveProperty('params');
});
