/** Ordering and selection of experiments, and the parsing of durations and submit options. */
import { sortExperiments } from '../../src/experiments/order.js';
import { parsePriorityFilter, selectExperiments, refuseMissingMembers } from '../../src/experiments/select.js';
import { MAX_TIMER_MS, parseDuration } from '../../src/parse/duration.js';
import { toBatchSettings } from '../../src/cli/batch-settings.js';
import { COMMANDS } from '../../src/cli/command-table.js';
import { rawDefaults } from '../../src/cli/options.js';
import { parseOptions } from '../../src/cli/validate.js';
import { retryDelayMs } from '../../src/workflows/retry-timing.js';
import type { ExperimentSpec, Priority } from '../../src/model/types.js';

const spec = (name: string, priority: Priority): ExperimentSpec => ({
  id: name.split('_')[0],
  name,
  file: `${name}.py`,
  priority,
});

test('orders by priority, then experiment number in natural order, then name', () => {
  const sorted = sortExperiments([
    spec('exp100_a', 'high'),
    spec('exp99_b', 'high'),
    spec('exp99_a', 'high'),
    spec('exp1_z', 'low'),
    spec('exp500_x', 'critical'),
    spec('exp2_m', 'medium'),
  ]);
  expect(sorted.map((experiment) => experiment.name)).toEqual([
    'exp500_x',
    'exp99_a',
    'exp99_b',
    'exp100_a',
    'exp2_m',
    'exp1_z',
  ]);
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
  const all = [
    spec('exp125_adaptive_stop_loss', 'high'),
    spec('exp126_adaptive_profit_targets', 'high'),
    spec('exp128_vix', 'medium'),
  ];
  test('takes ids or names', () => {
    expect(selectExperiments(all, { experiments: 'exp125,exp128_vix' }).map((e) => e.id)).toEqual(['exp125', 'exp128']);
  });
  test('an unknown id, alone or in a list, is named, with the ids there are', () => {
    expect(() => selectExperiments(all, { experiments: 'exp999' })).toThrow('unknown experiment: exp999');
    const ids = [...new Set(all.map((e) => e.id))].join(', ');
    expect(() => selectExperiments(all, { experiments: 'exp999' })).toThrow(`(the ids here: ${ids})`);
    const many = Array.from({ length: 12 }, (_, i) => spec(`exp${i + 1}_x`, 'medium'));
    expect(() => selectExperiments(many, { experiments: 'exp99' })).toThrow(
      '(the ids here: exp1, exp2, exp3, exp4, exp5, exp6, exp7, exp8, exp9, exp10 and 2 more)',
    );
    expect(() => selectExperiments(all, { experiments: 'exp125,exp7,exp8' })).toThrow(
      'unknown experiments: exp7, exp8',
    );
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

test('a duration longer than a timer holds (2^31-1 ms, ~24.8 days) is refused, not wrapped to a short one', () => {
  expect(parseDuration('24d')).toBe(24 * 86_400_000);
  expect(parseDuration(`${MAX_TIMER_MS}ms`)).toBe(MAX_TIMER_MS);
  expect(() => parseDuration(`${MAX_TIMER_MS + 1}ms`)).toThrow('is too long: at most 24.8 days');
  expect(() => parseDuration('30d')).toThrow('"30d" is too long');
  expect(parseDuration('30d', { maxMs: Infinity })).toBe(30 * 86_400_000);
});

test('retry backoff doubles from --retry-delay', () => {
  expect([1, 2, 3].map((retry) => retryDelayMs(10_000, retry))).toEqual([10_000, 20_000, 40_000]);
});

describe('submit options', () => {
  const base = rawDefaults(COMMANDS.submit.options);
  const parseSubmitOptions = (raw: Record<string, unknown>) => parseOptions('submit', raw);
  test('defaults parse: no attempt timeout, timeouts not retried', () => {
    const options = parseSubmitOptions(base);
    expect(options).toMatchObject({ maxConcurrent: 3, maxRetries: 2, heartbeatTimeout: 30_000, killGrace: 10_000 });
    expect(toBatchSettings(options, '/work', true)).toMatchObject({ timeoutMs: null, retryTimeouts: false });
  });
  test('an explicit --timeout and --retry-timeouts reach the settings', () => {
    const options = parseSubmitOptions({ ...base, timeout: '3h', retryTimeouts: true });
    expect(toBatchSettings(options, '/work', true)).toMatchObject({ timeoutMs: 3 * 3_600_000, retryTimeouts: true });
  });
  test.each([
    [{ maxConcurrent: '0' }, '--max-concurrent must be an integer ≥ 1 (got "0")'],
    [{ maxConcurrent: '-2' }, '--max-concurrent must be an integer ≥ 1'],
    [{ maxConcurrent: '2.5' }, '--max-concurrent must be an integer ≥ 1'],
    [{ maxRetries: '-1' }, '--max-retries must be an integer ≥ 0'],
    [{ maxRetries: 'two' }, '--max-retries must be an integer ≥ 0'],
    [{ timeout: 'soon' }, '--timeout: "soon" is not a duration'],
    [{ timeout: '30d' }, '--timeout: "30d" is too long: at most 24.8 days'],
    [{ retryDelay: '25d' }, '--retry-delay: "25d" is too long'],
    [
      { heartbeatTimeout: '1500ms', killGrace: '1s' },
      '--heartbeat-timeout must be at least 2s: twice the 1-s minimum heartbeat interval',
    ],
    [
      { heartbeatTimeout: '30s', killGrace: '30s' },
      '--kill-grace must be shorter than --heartbeat-timeout: a stopped run must be dead before its worker is ' +
        'declared lost',
    ],
    [{ heartbeatTimeout: '5s', killGrace: '1m' }, '--kill-grace must be shorter than --heartbeat-timeout'],
    [{ batchId: 'a/b' }, '--batch-id may use letters'],
    [{ batchId: '.hidden' }, '--batch-id may use letters'],
  ])('%o is refused', (override, message) => {
    expect(() => parseSubmitOptions({ ...base, ...override })).toThrow(message);
  });
});

describe('refuseMissingMembers', () => {
  const queue = [{ name: 'exp1_sweep' }, { name: 'exp2_plain' }];

  test('members of the earlier batch no script here makes: said so, with what to give again', () => {
    const rerun = new Set(['exp1_sweep[seed=2]', 'exp1_sweep[seed=3]']);
    expect(() => refuseMissingMembers(queue, rerun, 'sw2a')).toThrow(
      "batch sw2a's members that did not complete (exp1_sweep[seed=2], exp1_sweep[seed=3]) are not made by this " +
        "directory's scripts: give the same --experiments and --sweep as that submit",
    );
  });

  test('nothing to say when some of them are made here, or when none is a member', () => {
    expect(() =>
      refuseMissingMembers([{ name: 'exp1_sweep[seed=2]' }], new Set(['exp1_sweep[seed=2]']), 'b'),
    ).not.toThrow();
    expect(() => refuseMissingMembers(queue, new Set(['exp9_gone']), 'b')).not.toThrow();
  });
});
