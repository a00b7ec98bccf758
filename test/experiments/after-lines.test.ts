/** `After:` lines: read from the docstring, resolved to names of the batch, refused with file:line when wrong. */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveAfterLines, withinBatch } from '../../src/experiments/after-lines.js';
import { discoverExperiments, specOf } from '../../src/experiments/discover.js';
import { tempDir } from '../helpers/scripts.js';

async function script(dir: string, name: string, comment: string): Promise<void> {
  const file = path.join(dir, `${name}.sh`);
  await writeFile(file, `#!/bin/sh\n# ${name}\n#\n${comment}\ntrue\n`);
  await chmod(file, 0o755);
}

async function batchOf(scripts: Record<string, string>) {
  const dir = await tempDir('after');
  for (const [name, comment] of Object.entries(scripts)) await script(dir, name, comment);
  return discoverExperiments(dir);
}

test('ids and names resolve to names; After-any is kept apart; each line says where it is', async () => {
  const found = await batchOf({
    exp1_data: '',
    exp2_train: '# After: exp1',
    exp3_eval: '# After: exp2_train\n# After-any: exp1_data',
  });
  const byName = Object.fromEntries(resolveAfterLines(found).map((experiment) => [experiment.name, experiment]));
  expect(byName.exp2_train.after).toEqual(['exp1_data']);
  expect(byName.exp3_eval).toMatchObject({ after: ['exp2_train'], afterAny: ['exp1_data'] });
  expect(byName.exp3_eval.afterLines?.line).toBe(4);
  expect(specOf(byName.exp3_eval)).toMatchObject({ after: ['exp2_train'], afterAny: ['exp1_data'] });
});

test('unknown, ambiguous, self and circular dependencies are bad input naming file:line', async () => {
  await expect(async () => resolveAfterLines(await batchOf({ exp1_a: '# After: exp9' }))).rejects.toThrow(
    /exp1_a\.sh:4: After: exp9 is not in this batch/,
  );
  await expect(async () =>
    resolveAfterLines(await batchOf({ exp1_a: '', exp1_b: '', exp2_c: '# After: exp1' })),
  ).rejects.toThrow(/exp2_c\.sh:4: After: "exp1" names exp1_a, exp1_b; give one name/);
  await expect(async () => resolveAfterLines(await batchOf({ exp1_a: '# After: exp1' }))).rejects.toThrow(
    /exp1_a\.sh:4: exp1_a waits for itself/,
  );
  await expect(async () =>
    resolveAfterLines(await batchOf({ exp1_a: '# After: exp3', exp2_b: '# After: exp1', exp3_c: '# After-any: exp2' })),
  ).rejects.toThrow(/exp1_a -> exp3_c -> exp2_b -> exp1_a: these wait for each other in a circle/);
  const malformed = batchOf({ exp1_a: '# After: exp2,,exp3' });
  await expect(malformed).rejects.toThrow(/exp1_a\.sh: malformed line "After: exp2,,exp3"/);
});

test('what an experiment waits for outside its batch (left out, completed before) is not waited for', async () => {
  const found = resolveAfterLines(
    await batchOf({ exp1_a: '', exp2_b: '# After: exp1', exp3_c: '# After: exp2, exp1' }),
  );
  const kept = withinBatch(found.filter((experiment) => experiment.name !== 'exp1_a').map(specOf));
  expect(kept.map((experiment) => [experiment.name, experiment.after])).toEqual([
    ['exp2_b', undefined],
    ['exp3_c', ['exp2_b']],
  ]);
});
