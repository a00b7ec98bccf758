/** What a worker would refuse later is refused at submit and add: `..` in a name, long run keys, a huge add. */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MAX_ADD_BYTES, refuseLargeAdd, refuseLongRunKeys } from '../../src/experiments/batch-bounds.js';
import { discoverExperiments } from '../../src/experiments/discover.js';
import { expandSweep, memberNames, parseSweep } from '../../src/experiments/sweep.js';
import { experimentWorkflowId } from '../../src/model/batch-state.js';
import { runKeyOf } from '../../src/keeper/run-files.js';
import { checkPlainName } from '../../src/machine/script-check.js';
import { BadInputError } from '../../src/errors.js';
import { newBatchId } from '../../src/cli/batch-settings.js';
import { tempDir } from '../helpers/scripts.js';

test('a value holding ".." names a member a worker runs; two values made one name are still refused', () => {
  const names = memberNames('exp1_x', expandSweep(parseSweep('data=../data,./data,a/../b')));
  expect(names).toEqual(['exp1_x[data=___data]', 'exp1_x[data=._data]', 'exp1_x[data=a____b]']);
  names.forEach((name) => expect(() => checkPlainName('experiment name', name)).not.toThrow());
  expect(() => memberNames('exp1_x', expandSweep(parseSweep('data=../d,___d')))).toThrow(
    'data=../d and data=___d both name the member exp1_x[data=___d]',
  );
});

test.each(['0.1..0.5', '1e-3..1e-1', '1..2.5', '.5..1'])(
  'the range "lr=%s" is refused: ranges are integers',
  (range) => {
    expect(() => parseSweep(`lr=${range}`)).toThrow(/ranges are integers: write the values/);
  },
);

test('a bad value or range in a Sweep: line names its file:line', async () => {
  const dir = await tempDir('sweep-bounds');
  await writeFile(path.join(dir, 'exp1_x.py'), '"""X.\n\nSweep: lr=0.1..0.5\n"""\n');
  await chmod(path.join(dir, 'exp1_x.py'), 0o755);
  await expect(discoverExperiments(dir)).rejects.toThrow(/exp1_x.py:3: lr=0.1..0.5: ranges are integers/);
});

test('a run key over 255 bytes is refused, for a member or a plain name, with the real batch id', () => {
  const batchId = newBatchId();
  // `[ ] = ,` are encoded as 3 characters each: a name under 150 characters makes more than 255 bytes of run key.
  const params = Object.fromEntries(
    Array.from({ length: 24 }, (_, index) => [`k${String.fromCharCode(97 + index)}`, '1']),
  );
  const [member] = memberNames('exp1_s', [params]);
  expect(member.length).toBeLessThanOrEqual(150);
  expect(runKeyOf(experimentWorkflowId(batchId, member), 1).length).toBeGreaterThan(255);
  expect(() => refuseLongRunKeys(batchId, [{ name: 'exp0' }, { name: member }])).toThrow(BadInputError);
  expect(() => refuseLongRunKeys(batchId, [{ name: member }])).toThrow(
    new RegExp(`^${member.replace(/[[\]]/g, '\\$&')}: .* over the limit of 255`),
  );
  expect(() => refuseLongRunKeys(batchId, [{ name: `exp2_${'y'.repeat(240)}` }])).toThrow(/over the limit of 255/);
  // What fits with a run number of five digits passes.
  const longest = 255 - runKeyOf(experimentWorkflowId(batchId, ''), 99_999).length;
  expect(() => refuseLongRunKeys(batchId, [{ name: 'z'.repeat(longest) }])).not.toThrow();
  expect(() => refuseLongRunKeys(batchId, [{ name: 'z'.repeat(longest + 1) }])).toThrow(/255/);
});

test('an add whose experiments would not fit one Update is refused with its size', () => {
  const spec = (index: number) => ({
    id: 'exp140',
    name: `exp140_lr_sweep[lr=1e-3,seed=${index}]`,
    file: 'exp140_lr_sweep.py',
    priority: 'medium',
    params: { lr: '1e-3', seed: String(index) },
  });
  const many = Array.from({ length: 10_000 }, (_, index) => spec(index));
  expect(() => refuseLargeAdd({ experiments: many }, many.length)).toThrow(/10000 added experiments take \d+ KB/);
  const some = many.slice(0, 1000);
  expect(Buffer.byteLength(JSON.stringify({ experiments: some }))).toBeLessThan(MAX_ADD_BYTES);
  expect(() => refuseLargeAdd({ experiments: some }, some.length)).not.toThrow();
});

test.each(['1..', '..3', 'a..c', '1..3..5'])('"seed=%s" is a range mistyped, refused: not one odd value', (value) => {
  expect(() => parseSweep(`seed=${value}`)).toThrow(`seed=${value} is not a range: write a..b with two integers`);
});

test('a path holding ".." is a value, and a zero-padded range keeps its zeros', () => {
  expect(parseSweep('data=../a.csv,../b.csv').factors[0].rows.flat()).toEqual(['../a.csv', '../b.csv']);
  expect(parseSweep('seed=08..10').factors[0].rows.flat()).toEqual(['08', '09', '10']);
  expect(parseSweep('n=-02..01').factors[0].rows.flat()).toEqual(['-02', '-01', '00', '01']);
});

test('an empty sweep says so, not "an empty part between ;"', () => {
  expect(() => parseSweep('  ')).toThrow('the sweep is empty: write key=value,value; key=a..b');
});
