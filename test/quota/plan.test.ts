/** submit --dry-run plans each quota: the calls the selection asks for and the least time the limit allows. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeBatchSummary } from '../../src/activities/write-summary.js';
import { reserveBatchId } from '../../src/batch-client/index.js';
import { latestMeasuredCalls, leastTimeMs, planQuotas } from '../../src/quota/plan.js';
import { newBatchState } from '../../src/model/batch-state.js';
import { packBatchState } from '../../src/model/packed-state.js';
import type { ExperimentRecord, ExperimentSummary } from '../../src/model/types.js';
import { staged } from '../helpers/cli.js';
import { tempDir } from '../helpers/scripts.js';
import { testSettings } from '../helpers/temporal.js';

test('the least time: a window per full limit of calls after the first', () => {
  expect(leastTimeMs(100, 100, 5_000)).toBe(0);
  expect(leastTimeMs(101, 100, 5_000)).toBe(5_000);
  expect(leastTimeMs(1_200, 100, 5_000)).toBe(55_000);
  expect(leastTimeMs(39_000, 2_000, 3_600_000)).toBe(19 * 3_600_000);
});

test('calls are summed per quota; experiments without a Calls: line are counted apart', () => {
  const declared = { a: { limit: 10, windowMs: 1_000, hosts: [] }, b: { limit: 5, windowMs: 1_000, hosts: [] } };
  const plan = planQuotas(
    [
      { name: 'e1', quotas: ['a'], calls: 30 },
      { name: 'e2', quotas: ['a', 'b'] },
      { name: 'e3', quotas: ['b'], calls: 5 },
      { name: 'e4' },
    ],
    declared,
  );
  expect(plan).toEqual([
    {
      name: 'a',
      limit: 10,
      windowMs: 1_000,
      experiments: 2,
      calls: 30,
      fromCallsLines: 30,
      measuredEarlier: 0,
      withoutEstimate: 1,
      leastMs: 2_000,
    },
    {
      name: 'b',
      limit: 5,
      windowMs: 1_000,
      experiments: 2,
      calls: 5,
      fromCallsLines: 5,
      measuredEarlier: 0,
      withoutEstimate: 1,
      leastMs: 0,
    },
  ]);
});

test('without a Calls: line, the calls measured earlier count, for the quotas they were measured in', () => {
  const declared = { a: { limit: 10, windowMs: 1_000, hosts: [] }, b: { limit: 5, windowMs: 1_000, hosts: [] } };
  const measured = new Map([
    ['e1', { a: 999 }],
    ['e2', { a: 12 }],
  ]);
  const plan = planQuotas(
    [
      { name: 'e1', quotas: ['a'], calls: 30 },
      { name: 'e2', quotas: ['a', 'b'] },
    ],
    declared,
    measured,
  );
  expect(
    plan.map(({ name, calls, fromCallsLines, measuredEarlier, withoutEstimate }) => ({
      name,
      calls,
      fromCallsLines,
      measuredEarlier,
      withoutEstimate,
    })),
  ).toEqual([
    // e1's Calls: line wins over its measured 999.
    { name: 'a', calls: 42, fromCallsLines: 30, measuredEarlier: 12, withoutEstimate: 0 },
    { name: 'b', calls: 0, fromCallsLines: 0, measuredEarlier: 0, withoutEstimate: 1 },
  ]);
});

function summaryOf(
  name: string,
  status: ExperimentSummary['status'],
  closedAt: string,
  calls?: Record<string, number>,
) {
  const view: ExperimentSummary = {
    id: name,
    name,
    priority: 'high',
    status,
    attempts: 1,
    exitCode: 0,
    reason: null,
    startedAt: null,
    closedAt,
  };
  return calls ? { ...view, calls } : view;
}

test('the calls measured are those of the latest completed run of each experiment that recorded calls', () => {
  const measured = latestMeasuredCalls([
    {
      batchId: 'new',
      experiments: [
        summaryOf('e1', 'completed', '2026-03-02T00:00:00.000Z', { a: 40 }),
        summaryOf('e2', 'failed', '2026-03-02T00:00:00.000Z', { a: 3 }),
        summaryOf('e3', 'completed', '2026-03-02T00:00:00.000Z'),
      ],
    },
    {
      batchId: 'old',
      experiments: [
        summaryOf('e1', 'completed', '2026-03-01T00:00:00.000Z', { a: 10 }),
        summaryOf('e2', 'completed', '2026-03-01T00:00:00.000Z', { a: 20 }),
        summaryOf('e3', 'completed', '2026-03-01T00:00:00.000Z', { a: 30 }),
      ],
    },
  ]);
  expect(Object.fromEntries(measured)).toEqual({ e1: { a: 40 }, e2: { a: 20 }, e3: { a: 30 } });
});

/** Writes an earlier batch's batch.json and summary.json as submit and the worker do. */
async function writeEarlierBatch(
  dir: string,
  batchId: string,
  closedAt: number,
  ended: Record<string, Pick<ExperimentRecord, 'status' | 'calls'>>,
): Promise<void> {
  const names = Object.keys(ended);
  await reserveBatchId({
    batchId,
    submittedAt: new Date(closedAt).toISOString(),
    experimentsDir: dir,
    workDir: dir,
    experiments: names,
  });
  const specs = names.map((name) => ({ id: name.split('_')[0], name, file: `${name}.py`, priority: 'high' as const }));
  const state = newBatchState(batchId, specs, testSettings({ experimentsDir: dir, workDir: dir, taskQueue: 'q' }), 0);
  state.records = names.map((name) => ({ ...ended[name], attempts: 1, exitCode: 0, startedAt: 0, closedAt }));
  await writeBatchSummary(packBatchState(state));
}

test('submit --dry-run plans from Calls: lines, else the calls measured in earlier batches, saying which', async () => {
  const dir = await tempDir('quota-plan');
  await writeFile(
    path.join(dir, 'staged.config.json'),
    JSON.stringify({
      quotas: { yahoo: { limit: '2000/1h', hosts: ['query1.finance.yahoo.com'] }, fred: { limit: '10/1s' } },
    }),
  );
  await writeFile(path.join(dir, 'exp1_a.py'), '"""A.\n\nQuota: yahoo\nCalls: 39,000\n"""\n');
  await writeFile(path.join(dir, 'exp2_b.py'), '"""B.\n\nQuota: yahoo\n"""\n');
  await writeFile(path.join(dir, 'exp3_c.py'), '"""C.\n\nQuota: yahoo\n"""\n');
  await writeFile(path.join(dir, 'exp4_d.py'), '"""D.\n\nQuota: yahoo\n"""\n');
  await writeEarlierBatch(dir, 'batch-old', 1_000, {
    exp2_b: { status: 'completed', calls: { yahoo: 300 } },
    exp4_d: { status: 'completed', calls: { yahoo: 7 } },
  });
  await writeEarlierBatch(dir, 'batch-new', 2_000, {
    exp2_b: { status: 'completed', calls: { yahoo: 1_400 } },
    exp3_c: { status: 'failed', calls: { yahoo: 50 } },
  });
  const run = (args: string[]) =>
    staged(['submit', '--dir', '.', '--dry-run', ...args], {
      cwd: dir,
      env: { TEMPORAL_ADDRESS: '127.0.0.1:1' }, // a dry run needs no server
    });
  const json = await run(['--json']);
  expect(json.exitCode).toBe(0);
  expect(JSON.parse(String(json.stdout)).quotas).toEqual([
    {
      name: 'yahoo',
      limit: 2000,
      windowMs: 3_600_000,
      experiments: 4,
      calls: 40_407,
      fromCallsLines: 39_000,
      measuredEarlier: 1_407,
      withoutEstimate: 1,
      leastMs: 20 * 3_600_000,
    },
  ]);
  const text = await run([]);
  expect(String(text.stdout)).toContain(
    '[QUOTA] yahoo: 40,407 calls planned by 4 experiment(s) at 2000/1.0h: at least 20.0h ' +
      '(39,000 from Calls: lines, 1,407 measured in earlier batches; 1 experiment(s) without an estimate, not counted)',
  );
});
