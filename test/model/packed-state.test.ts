/** The batch's wire form: lossless, and small enough for 5,000 experiments under Temporal's 512 KB warning. */
import { newBatchState } from '../../src/model/batch-state.js';
import { packBatchState, unpackBatchState } from '../../src/model/packed-state.js';
import type { BatchSettings, ExperimentSpec } from '../../src/model/types.js';

const settings: BatchSettings = {
  maxConcurrent: 3,
  maxRetries: 2,
  retryDelayMs: 10_000,
  timeoutMs: 5_400_000,
  retryTimeouts: false,
  heartbeatTimeoutMs: 30_000,
  killGraceMs: 10_000,
  experimentsDir: '/home/researcher/proteus/common/experiments',
  workDir: '/home/researcher/proteus',
  taskQueue: 'staged',
  historyLimit: 4_000,
  searchAttributes: true,
};

function experiments(count: number): ExperimentSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `exp${i + 1}`,
    name: `exp${i + 1}_adaptive_stop_loss_variant`,
    file: i % 2 ? `exp${i + 1}_adaptive_stop_loss_variant.py` : `exp${i + 1}_adaptive_stop_loss_variant`,
    priority: (['critical', 'high', 'medium', 'low'] as const)[i % 4],
  }));
}

test('unpack(pack(state)) gives the state back, every kind of record included', () => {
  const state = newBatchState('batch-1', experiments(6), settings, 1_700_000_000_000);
  state.nextIndex = 5;
  state.generation = 2;
  state.experiments[0] = { ...state.experiments[0], quotas: ['yahoo', 'fred'], calls: 40 };
  state.records[0] = {
    status: 'completed',
    attempts: 1,
    exitCode: 0,
    startedAt: 1_700_000_000_500,
    closedAt: 1_700_000_147_300,
    calls: { yahoo: 40, fred: 0 },
  };
  state.records[1] = {
    status: 'failed',
    attempts: 3,
    exitCode: 3,
    startedAt: 1_700_000_000_600,
    closedAt: 1_700_000_001_000,
    error: 'exp2 exited with code 3\nboom',
  };
  state.records[2] = {
    status: 'retrying',
    attempts: 1,
    exitCode: 1,
    startedAt: 1_700_000_000_700,
    retryAt: 1_700_000_010_700,
    error: 'first',
  };
  state.records[3] = { status: 'running', attempts: 2, exitCode: null, startedAt: 1_700_000_000_800, lostRuns: 1 };
  state.records[4] = {
    status: 'cancelled',
    attempts: 1,
    exitCode: null,
    startedAt: 1_700_000_000_900,
    closedAt: 1_700_000_002_000,
  };

  expect(unpackBatchState(JSON.parse(JSON.stringify(packBatchState(state))))).toEqual(state);
});

test('the quotas of an experiment and its manual metering survive the wire form', () => {
  const specs = experiments(3);
  specs[0].quotas = ['yahoo', 'fred'];
  specs[2].quotas = ['yahoo'];
  specs[2].metering = 'manual';
  const state = newBatchState('batch-quotas', specs, settings, 1_700_000_000_000);
  const packed = packBatchState(state);
  expect(packed.manualMetering).toEqual([2]);
  expect(unpackBatchState(JSON.parse(JSON.stringify(packed))).experiments).toEqual(specs);
  expect(packBatchState(newBatchState('batch-plain', experiments(2), settings, 0))).not.toHaveProperty(
    'manualMetering',
  );
});

test("an experiment's requirements survive the wire form; a batch without any packs no field for them", () => {
  const specs = experiments(3);
  specs[1].requires = { gpu: 2, mem: 16 * 1024 ** 3 };
  const packed = packBatchState(newBatchState('batch-requires', specs, settings, 1_700_000_000_000));
  expect(packed.requires).toEqual({ 1: { gpu: 2, mem: 16 * 1024 ** 3 } });
  expect(unpackBatchState(JSON.parse(JSON.stringify(packed))).experiments).toEqual(specs);
  expect(packBatchState(newBatchState('batch-plain', experiments(2), settings, 0))).not.toHaveProperty('requires');
});

test('5,000 finished experiments pack under 512 KB', () => {
  const state = newBatchState('batch-big', experiments(5_000), settings, 1_700_000_000_000);
  state.records = state.records.map((_, i) => ({
    status: 'completed',
    attempts: 1,
    exitCode: 0,
    startedAt: 1_700_000_000_000 + i * 9_000_000,
    closedAt: 1_700_000_000_000 + i * 9_000_000 + 8_838_000,
  }));
  const packed = JSON.stringify(packBatchState(state)).length;
  const unpacked = JSON.stringify(state).length;
  expect(packed).toBeLessThan(512 * 1024);
  expect(packed).toBeLessThan(unpacked / 2);
});
