/** Ordering and selection of experiments, and the parsing of durations and submit options. */
import { sortExperiments } from '../src/experiments/order.js';
import { parsePriorityFilter, selectExperiments } from '../src/experiments/select.js';
import { parseDuration } from '../src/shared/duration.js';
import { parseSubmitOptions } from '../src/cli/submit-options.js';
import { SUBMIT_DEFAULTS } from '../src/cli/submit-options.js';
import { retryBackoffMs } from '../src/shared/batch-state.js';
import type { ExperimentSpec, Priority } from '../src/shared/types.js';

const spec = (name: string, priority: Priority): ExperimentSpec => ({ id: name.split('_')[0], name, file: `${name}.py`, priority });

test('orders by priority, then experiment number in natural order, then name', () => {
  const sorted = sortExperiments([
    spec('exp100_a', 'high'),
    spec('exp99_b', 'high'),
    spec('exp99_a', 'high'),
    spec('exp1_z', 'low'),
    spec('exp500_x', 'critical'),
    spec('exp2_m', 'medium'),
  ]);
  expect(sorted.map((experiment) => experiment.name)).toEqual(['exp500_x', 'exp99_a', 'exp99_b', 'exp100_a', 'exp2_m', 'exp1_z']);
});

describe('--priority', () => {
  test('one level means that level and everything above it', () => {
    expect([...parsePriorityFilter('high')]).toEqual(['critical', 'high']);
    expect([...parsePriorityFilter('low')]).toEqual(['critical', 'high', 'medium', 'low']);
  });
  test('a list means exactly those levels', () => {
    expect([...parsePriorityFilter('medium,low')]).toEqual(['medium', 'low']);
  });
  test('an unknown level is refused by name', () => {
    expect(() => parsePriorityFilter('high,urgent')).toThrow('unknown priority level "urgent"');
  });
});

describe('--experiments', () => {
  const all = [spec('exp125_adaptive_stop_loss', 'high'), spec('exp126_adaptive_profit_targets', 'high'), spec('exp128_vix', 'medium')];
  test('takes ids or names', () => {
    expect(selectExperiments(all, { experiments: 'exp125,exp128_vix' }).map((e) => e.id)).toEqual(['exp125', 'exp128']);
  });
  test('an unknown id, alone or in a list, is named', () => {
    expect(() => selectExperiments(all, { experiments: 'exp999' })).toThrow('unknown experiment: exp999');
    expect(() => selectExperiments(all, { experiments: 'exp125,exp7,exp8' })).toThrow('unknown experiments: exp7, exp8');
  });
  test('a selection that matches nothing is refused', () => {
    expect(() => selectExperiments(all, { experiments: 'exp128', priority: 'high' })).toThrow('matches no experiment');
  });
});

test('durations', () => {
  expect(parseDuration('90m')).toBe(5_400_000);
  expect(parseDuration('1h30m')).toBe(5_400_000);
  expect(parseDuration('500ms')).toBe(500);
  expect(parseDuration('2.5s')).toBe(2_500);
  for (const bad of ['90', 'abc', '10 minutes', '-5s', '0s', '']) expect(() => parseDuration(bad)).toThrow();
});

test('retry backoff doubles from --retry-delay', () => {
  expect([1, 2, 3].map((failures) => retryBackoffMs(10_000, failures))).toEqual([10_000, 20_000, 40_000]);
});

describe('submit options', () => {
  const base = { ...SUBMIT_DEFAULTS };
  test('defaults parse', () => {
    expect(parseSubmitOptions(base)).toMatchObject({ maxConcurrent: 3, maxRetries: 2, timeout: 5_400_000 });
  });
  test.each([
    [{ maxConcurrent: '0' }, '--max-concurrent must be an integer ≥ 1 (got "0")'],
    [{ maxConcurrent: '-2' }, '--max-concurrent must be an integer ≥ 1'],
    [{ maxConcurrent: '2.5' }, '--max-concurrent must be an integer ≥ 1'],
    [{ maxRetries: '-1' }, '--max-retries must be an integer ≥ 0'],
    [{ maxRetries: 'two' }, '--max-retries must be an integer ≥ 0'],
    [{ timeout: 'soon' }, '--timeout: "soon" is not a duration'],
    [{ batchId: 'a/b' }, '--batch-id may use letters'],
    [{ batchId: '.hidden' }, '--batch-id may use letters'],
  ])('%o is refused', (override, message) => {
    expect(() => parseSubmitOptions({ ...base, ...override })).toThrow(message);
  });
});
