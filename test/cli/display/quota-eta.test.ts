/** The quota ETA and how it joins the compute ETA, and the calls records sum: pure logic. */
import { liveBatchView } from '../../../src/cli/display/batch-view.js';
import type { BudgetView } from '../../../src/budget/window.js';
import { newBatchState } from '../../../src/model/batch-state.js';
import { addCalls } from '../../../src/model/calls.js';
import { batchEtaMs, quotaEtaMs } from '../../../src/cli/display/eta.js';
import type { BatchSettings, ExperimentSpec, RunHeartbeat } from '../../../src/model/types.js';

const settings = {
  maxConcurrent: 10,
  quotas: { yahoo: { limit: 100, windowMs: 5_000, hosts: [] }, fred: { limit: 10, windowMs: 1_000, hosts: [] } },
} as unknown as BatchSettings;

function experiment(name: string, quotas?: string[], calls?: number): ExperimentSpec {
  return { id: name, name, file: name, priority: 'high', ...(quotas ? { quotas } : {}), ...(calls ? { calls } : {}) };
}

function budget(overrides: Partial<BudgetView>): BudgetView {
  return {
    name: 'yahoo',
    limit: 100,
    windowMs: 5_000,
    effectiveLimit: 100,
    callsInWindow: 0,
    pausedUntil: null,
    grantedTotal: 0,
    rateLimitedTotal: 0,
    ...overrides,
  };
}

test('addCalls sums by quota and keeps nothing when neither has calls', () => {
  expect(addCalls({ yahoo: 3, fred: 1 }, { yahoo: 4, other: 2 })).toEqual({ yahoo: 7, fred: 1, other: 2 });
  expect(addCalls(undefined, { yahoo: 4 })).toEqual({ yahoo: 4 });
  expect(addCalls({ yahoo: 3 }, undefined)).toEqual({ yahoo: 3 });
  expect(addCalls(undefined, undefined)).toBeUndefined();
});

describe('the quota ETA', () => {
  test('the estimated calls not yet made, at the limit per window', () => {
    const state = newBatchState('b', [experiment('a', ['yahoo'], 400), experiment('b', ['yahoo'], 400)], settings, 0);
    // a: 150 made in ended runs and 50 in its running one; b: queued. 600 left at 100 per 5 s.
    state.records[0] = { status: 'running', attempts: 2, exitCode: null, startedAt: 0, calls: { yahoo: 150 } };
    const runs = new Map<number, RunHeartbeat>([[0, { host: 'h', startedAt: 0, calls: { yahoo: 50 } }]]);
    expect(quotaEtaMs(state, runs, 1_000)).toBe(30_000);
  });

  test('a lowered effective limit and a pause lengthen it', () => {
    const state = newBatchState('b', [experiment('a', ['yahoo'], 600)], settings, 0);
    const lowered = budget({ effectiveLimit: 50, pausedUntil: 11_000 });
    expect(quotaEtaMs(state, new Map(), 1_000, [lowered])).toBe(10_000 + 60_000);
  });

  test('the slowest quota decides; ended experiments and those over their estimate need nothing', () => {
    const state = newBatchState(
      'b',
      [experiment('a', ['yahoo', 'fred'], 100), experiment('b', ['fred'], 100), experiment('c', ['yahoo'], 500)],
      settings,
      0,
    );
    state.records[1] = { status: 'retrying', attempts: 1, exitCode: 1, calls: { fred: 120 } };
    state.records[2] = { status: 'completed', attempts: 1, exitCode: 0, calls: { yahoo: 500 } };
    // yahoo: 100 left → 5 s; fred: 100 left (b made more than its estimate) → 10 s.
    expect(quotaEtaMs(state, new Map(), 0)).toBe(10_000);
  });

  test('unknown when no experiment has a Calls: estimate', () => {
    const state = newBatchState('b', [experiment('a', ['yahoo']), experiment('b')], settings, 0);
    expect(quotaEtaMs(state, new Map(), 0)).toBeUndefined();
  });
});

describe('the batch ETA with quotas', () => {
  test('is the later of the compute ETA and the quota ETA', () => {
    const state = newBatchState('b', [experiment('a', ['yahoo'], 100), experiment('b', ['yahoo'], 2_000)], settings, 0);
    state.records[0] = { status: 'completed', attempts: 1, exitCode: 0, startedAt: 0, closedAt: 10_000 };
    // compute: b queued at the mean 10 s over 10 slots; quota: 2,000 calls at 100 per 5 s = 100 s.
    expect(batchEtaMs(state, new Map(), 10_000)).toBe(100_000);
    // compute: 10 s of work over 10 slots; quota: 10 calls = 0.5 s.
    state.experiments[1] = experiment('b', ['yahoo'], 10);
    expect(batchEtaMs(state, new Map(), 10_000)).toBe(1_000);
  });

  test('before the work can be timed, the quota ETA alone; unknown once the estimated calls are made', () => {
    const state = newBatchState('b', [experiment('a', ['yahoo'], 1_000)], settings, 0);
    state.records[0] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
    const running = (calls: number) =>
      new Map<number, RunHeartbeat>([[0, { host: 'h', startedAt: 0, calls: { yahoo: calls } }]]);
    expect(batchEtaMs(state, running(500), 1_000)).toBe(25_000);
    expect(batchEtaMs(state, running(1_000), 1_000)).toBeUndefined();
  });

  test("status shows a running experiment its ended runs' calls plus its current run's, and the quota ETA", () => {
    const state = newBatchState('b', [experiment('a', ['yahoo'], 1_000)], settings, 0);
    state.records[0] = { status: 'running', attempts: 2, exitCode: null, startedAt: 0, calls: { yahoo: 300 } };
    const runs = new Map<number, RunHeartbeat>([[0, { host: 'h', startedAt: 0, calls: { yahoo: 200 } }]]);
    const view = liveBatchView(state, 'running', runs, 1_000, [budget({ effectiveLimit: 50 })]);
    expect(view.experiments[0].calls).toEqual({ yahoo: 500 });
    expect(view.eta?.seconds).toBe(50);
  });
});
