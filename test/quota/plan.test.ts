/** submit --dry-run plans each quota: the calls the selection asks for and the least time the limit allows. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { leastTimeMs, planQuotas } from '../../src/quota/plan.js';
import { tempDir } from '../helpers/scripts.js';

const CLI = fileURLToPath(new URL('../../src/client.js', import.meta.url));

test('the least time: a window per full limit of calls after the first', () => {
  expect(leastTimeMs(100, 100, 5_000)).toBe(0);
  expect(leastTimeMs(101, 100, 5_000)).toBe(5_000);
  expect(leastTimeMs(1_200, 100, 5_000)).toBe(55_000);
  expect(leastTimeMs(39_000, 2_000, 3_600_000)).toBe(19 * 3_600_000);
});

test('calls are summed per quota; experiments without a Calls: line are counted apart', () => {
  const declared = { a: { limit: 10, windowMs: 1_000, hosts: [] }, b: { limit: 5, windowMs: 1_000, hosts: [] } };
  const plan = planQuotas(
    [{ quotas: ['a'], calls: 30 }, { quotas: ['a', 'b'] }, { quotas: ['b'], calls: 5 }, {}],
    declared,
  );
  expect(plan).toEqual([
    { name: 'a', limit: 10, windowMs: 1_000, experiments: 2, calls: 30, withoutEstimate: 1, leastMs: 2_000 },
    { name: 'b', limit: 5, windowMs: 1_000, experiments: 2, calls: 5, withoutEstimate: 1, leastMs: 0 },
  ]);
});

test('submit --dry-run prints the plan of each quota the selection uses, and starts nothing', async () => {
  const dir = await tempDir('quota-plan');
  await writeFile(
    path.join(dir, 'staged.config.json'),
    JSON.stringify({
      quotas: { yahoo: { limit: '2000/1h', hosts: ['query1.finance.yahoo.com'] }, fred: { limit: '10/1s' } },
    }),
  );
  await writeFile(path.join(dir, 'exp1_a.py'), '"""A.\n\nQuota: yahoo\nCalls: 39,000\n"""\n');
  await writeFile(path.join(dir, 'exp2_b.py'), '"""B.\n\nQuota: yahoo\n"""\n');
  const run = (args: string[]) =>
    execa(process.execPath, [CLI, 'submit', '--dir', '.', '--dry-run', ...args], {
      cwd: dir,
      env: { TEMPORAL_ADDRESS: '127.0.0.1:1' }, // a dry run needs no server
      reject: false,
    });
  const json = await run(['--json']);
  expect(json.exitCode).toBe(0);
  expect(JSON.parse(String(json.stdout)).quotas).toEqual([
    {
      name: 'yahoo',
      limit: 2000,
      windowMs: 3_600_000,
      experiments: 2,
      calls: 39_000,
      withoutEstimate: 1,
      leastMs: 68_400_000,
    },
  ]);
  const text = await run([]);
  expect(String(text.stdout)).toContain(
    '[QUOTA] yahoo: 39000 calls planned by 2 experiment(s) at 2000/1.0h: at least 19.0h ' +
      '(1 without a Calls: line, not counted)',
  );
});
