/** Sweeps: the Sweep: and Args: lines, expansion in declared order, member names, and discovery of a swept script. */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { discoverExperiments, specOf } from '../../src/experiments/discover.js';
import { sortExperiments } from '../../src/experiments/order.js';
import { selectExperiments, splitNames } from '../../src/experiments/select.js';
import {
  argsOf,
  expandSweep,
  memberNames,
  paramsEnvironment,
  parseArgsTemplate,
  parseSweep,
  sweepLinesOf,
  sweepSize,
} from '../../src/experiments/sweep.js';
import { applySweepOption, refuseTooMany } from '../../src/experiments/sweep-members.js';
import { newBatchState } from '../../src/model/batch-state.js';
import { packBatchState, unpackBatchState } from '../../src/model/packed-state.js';
import { sortQueue } from '../../src/model/steering.js';
import type { BatchSettings, ExperimentSpec } from '../../src/model/types.js';
import { BadInputError } from '../../src/errors.js';
import { afterLinesOf, resolveReferences } from '../../src/experiments/after-lines.js';
import { tempDir } from '../helpers/scripts.js';

test('a product in declared order, the first parameter slowest; ranges count up', () => {
  const sweep = parseSweep('lr=1e-3,3e-4,1e-4; seed=1..2');
  expect(sweepSize(sweep)).toBe(6);
  expect(expandSweep(sweep)).toEqual([
    { lr: '1e-3', seed: '1' },
    { lr: '1e-3', seed: '2' },
    { lr: '3e-4', seed: '1' },
    { lr: '3e-4', seed: '2' },
    { lr: '1e-4', seed: '1' },
    { lr: '1e-4', seed: '2' },
  ]);
  expect(expandSweep(parseSweep('x=-1..1'))).toEqual([{ x: '-1' }, { x: '0' }, { x: '1' }]);
});

test('zip pairs values by position; with ";" or a new key= between its lists', () => {
  const paired = [
    { lr: '1e-3', warmup: '100', seed: '1' },
    { lr: '1e-3', warmup: '100', seed: '2' },
    { lr: '1e-4', warmup: '1000', seed: '1' },
    { lr: '1e-4', warmup: '1000', seed: '2' },
  ];
  expect(expandSweep(parseSweep('zip(lr=1e-3,1e-4; warmup=100,1000); seed=1..2'))).toEqual(paired);
  expect(expandSweep(parseSweep('zip(lr=1e-3,1e-4, warmup=100,1000); seed=1,2'))).toEqual(paired);
});

test.each([
  ['', /empty/],
  ['lr=', /lr has an empty value/],
  ['lr=1,,2', /lr has an empty value/],
  ['lr=1, seed=2', /separate parameters with ";"/],
  ['1,2', /no parameter name/],
  ['2lr=1', /parameter name/],
  ['lr=1; lr=2', /parameter lr is given twice/],
  ['lr=1; LR=2', /given twice \(as lr\)/],
  ['zip(lr=1,2; seed=1)', /as long: lr has 2, seed has 1/],
  ['zip(lr=1,2)', /pairs one parameter/],
  ['zip(lr=1; seed=2', /without its "\)"/],
  ['seed=5..1', /a ≤ b/],
  ['seed=1..100000000', /too many/],
  ['lr=1;;seed=2', /empty part/],
])('"%s" is refused', (text, message) => {
  expect(() => parseSweep(text)).toThrow(message);
});

test('names: values made safe, parameters in declared order; two values made one name are refused', () => {
  const members = expandSweep(parseSweep('opt=adam w,sgd/nesterov; lr=1e+3'));
  expect(memberNames('exp140_sweep', members)).toEqual([
    'exp140_sweep[opt=adam_w,lr=1e+3]',
    'exp140_sweep[opt=sgd_nesterov,lr=1e+3]',
  ]);
  expect(() => memberNames('exp140', expandSweep(parseSweep('opt=a b,a_b')))).toThrow(
    'opt=a b and opt=a_b both name the member exp140[opt=a_b]',
  );
  expect(() => memberNames('exp140', [{ v: 'x'.repeat(200) }])).toThrow(/longer than 150/);
});

test('args: the template filled in with the values as given, or --key value in declared order', () => {
  const params = { lr: '1e-3', opt: 'adam w' };
  expect(argsOf(params)).toEqual(['--lr', '1e-3', '--opt', 'adam w']);
  expect(argsOf(params, parseArgsTemplate('--lr={lr} --optimizer {opt} --fast'))).toEqual([
    '--lr=1e-3',
    '--optimizer',
    'adam w',
    '--fast',
  ]);
  expect(paramsEnvironment(params)).toEqual({ STAGED_PARAM_LR: '1e-3', STAGED_PARAM_OPT: 'adam w' });
  expect(paramsEnvironment(undefined)).toEqual({});
});

test('the Sweep: and Args: lines of a docstring, with their line numbers; a bad one names its line', () => {
  const source = '"""LR sweep.\n\nSweep: lr=1,2\nSweep: seed=1..3\nArgs: --lr {lr} --seed {seed}\n"""\n';
  const found = sweepLinesOf(source.split('"""')[1], source);
  expect(found.sweep?.line).toBe(3);
  expect(sweepSize(found.sweep!.sweep)).toBe(6);
  expect(found.args).toEqual({ template: ['--lr', '{lr}', '--seed', '{seed}'], line: 5 });
  const bad = '"""x\nSweep: lr=1\nArgs: --lr {lr} --batch {bs}\n"""';
  expect(() => sweepLinesOf(bad.split('"""')[1], bad)).toThrow(/\{bs\} is not a parameter/);
});

async function script(dir: string, name: string, text: string): Promise<void> {
  await writeFile(path.join(dir, name), text);
  await chmod(path.join(dir, name), 0o755);
}

test('discovery makes one experiment per member, in declared order, with the script settings', async () => {
  const dir = await tempDir('sweep-discover');
  await script(dir, 'exp140_lr.py', '"""LR sweep.\n\nPriority: high\nSweep: lr=3e-4,1e-3; seed=10,9\n"""\n');
  await script(dir, 'exp139_plain.py', '"""Plain."""\n');
  const found = sortExperiments(await discoverExperiments(dir));
  expect(found.map((e) => e.name)).toEqual([
    'exp140_lr[lr=3e-4,seed=10]',
    'exp140_lr[lr=3e-4,seed=9]',
    'exp140_lr[lr=1e-3,seed=10]',
    'exp140_lr[lr=1e-3,seed=9]',
    'exp139_plain',
  ]);
  expect(found[0]).toMatchObject({ id: 'exp140', file: 'exp140_lr.py', priority: 'high' });
  expect(specOf(found[1]).params).toEqual({ lr: '3e-4', seed: '9' });
  expect(specOf(found[4])).not.toHaveProperty('params');

  // A script's name selects its members; a member's name (commas and all), one member.
  expect(selectExperiments(found, { experiments: 'exp140_lr' })).toHaveLength(4);
  expect(selectExperiments(found, { experiments: 'exp139,exp140_lr[lr=1e-3,seed=9]' }).map((e) => e.name)).toEqual([
    'exp140_lr[lr=1e-3,seed=9]',
    'exp139_plain',
  ]);
  expect(splitNames('a[x=1,y=2],b')).toEqual(['a[x=1,y=2]', 'b']);
});

test('a malformed sweep, too many members, or --sweep on the wrong scripts is bad input naming where', async () => {
  const dir = await tempDir('sweep-bad');
  await script(dir, 'exp1_bad.py', '"""Bad.\n\nSweep: lr=1,2, seed=3\n"""\n');
  await expect(discoverExperiments(dir)).rejects.toThrow(`${path.join(dir, 'exp1_bad.py')}:3: "lr=1,2, seed=3"`);
  await script(dir, 'exp1_bad.py', '"""Big.\n\nSweep: a=1..200; b=1..60\n"""\n');
  await expect(discoverExperiments(dir)).rejects.toThrow(/exp1_bad.py:3: the sweep has 12000 members/);
  expect(await discoverExperiments(dir, { maxExperiments: 12_000 })).toHaveLength(12_000);
  expect(() => refuseTooMany(10_001, 10_000)).toThrow(BadInputError);

  await script(dir, 'exp1_bad.py', '"""Swept.\n\nSweep: a=1,2\n"""\n');
  await script(dir, 'exp2_plain.py', '"""Plain.\n\nArgs: --seed {seed}\n"""\n');
  const found = await discoverExperiments(dir);
  expect(() => applySweepOption(found, ['seed=1..3'], 100)).toThrow(/2 are selected/);
  expect(() => applySweepOption(found.slice(0, 2), ['seed=1..3'], 100)).toThrow(/exp1_bad.py:3 has a Sweep: line/);
  const plain = found.filter((e) => e.name === 'exp2_plain');
  expect(() => applySweepOption(plain, ['lr=1'], 100)).toThrow(/exp2_plain.py:3: Args: \{seed\}/);
  expect(() => applySweepOption(plain, ['seed=1..3'], 2)).toThrow(/--sweep: the sweep has 3 members/);
  expect(applySweepOption(plain, ['seed=1..2', 'lr=1'], 100).map((e) => e.name)).toEqual([
    'exp2_plain[seed=1,lr=1]',
    'exp2_plain[seed=2,lr=1]',
  ]);
});

const settings = { experimentsDir: '/e', workDir: '/w', historyLimit: 4000 } as BatchSettings;

function members(count: number): ExperimentSpec[] {
  const all = expandSweep(parseSweep(`lr=1e-3,3e-4,1e-4,3e-5,1e-5,3e-6,1e-6,3e-7,1e-7,3e-8; seed=1..${count / 10}`));
  return memberNames('exp140_lr_sweep', all).map((name, index) => ({
    id: 'exp140',
    name,
    file: 'exp140_lr_sweep.py',
    priority: 'medium',
    params: all[index],
  }));
}

test('members survive the wire form, a name the rule does not give back included', () => {
  const specs: ExperimentSpec[] = [
    ...members(20),
    { id: 'exp1', name: 'exp1_plain', file: 'exp1_plain.sh', priority: 'low' },
  ];
  specs[3] = { ...specs[3], name: 'exp140_lr_sweep[renamed]' };
  const state = newBatchState('batch-sweep', specs, settings, 1_700_000_000_000);
  expect(unpackBatchState(JSON.parse(JSON.stringify(packBatchState(state))))).toEqual(state);
});

test('10,000 members pack under 512 KB before and after they ran', () => {
  const state = newBatchState('batch-big-sweep', members(10_000), settings, 1_700_000_000_000);
  const before = JSON.stringify(packBatchState(state)).length;
  state.records = state.records.map((_, i) => ({
    status: 'completed',
    attempts: 1,
    exitCode: 0,
    startedAt: 1_700_000_000_000 + i * 90_000,
    closedAt: 1_700_000_000_000 + i * 90_000 + 88_380,
  }));
  const after = JSON.stringify(packBatchState(state)).length;
  console.log(`[figure] 10,000 sweep members pack to ${before} bytes queued, ${after} bytes finished`);
  expect(before).toBeLessThan(512 * 1024);
  expect(after).toBeLessThan(512 * 1024);
});

test('the queue keeps members in declared order when it is sorted again', () => {
  const specs = members(20).reverse();
  const state = newBatchState('batch-order', specs, settings, 0);
  sortQueue(state);
  expect(state.experiments.map((e) => e.name)).toEqual(specs.map((e) => e.name));
});

test('an After: line naming a swept script, or its id, waits for every member', () => {
  const candidates = [
    ...members(20).slice(0, 3),
    { id: 'exp2', name: 'exp2_x', file: 'exp2_x.sh', priority: 'low' as const },
  ];
  const all = candidates.slice(0, 3).map((e) => e.name);
  expect(resolveReferences(['exp140_lr_sweep'], candidates, 'After:')).toEqual(all);
  expect(resolveReferences(['exp140', 'exp2'], candidates, 'After:')).toEqual([...all, 'exp2_x']);
  expect(resolveReferences([all[1]], candidates, 'After:')).toEqual([all[1]]);
  const text = `After: exp2, ${all[1]}`;
  expect(afterLinesOf(text, text)?.after).toEqual(['exp2', all[1]]);
  expect(splitNames('a,,b')).toEqual(['a', '', 'b']);
});
