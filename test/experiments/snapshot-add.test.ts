/** `add` to a batch with a snapshot: a copy its experiments run is never replaced, and a refused add leaves none. */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { snapshotAdded } from '../../src/experiments/code-snapshot.js';
import { BadInputError } from '../../src/errors.js';
import { tempDir } from '../helpers/scripts.js';

async function batchWithCopy() {
  const dir = await tempDir('snapshot-add');
  const settings = {
    workDir: dir,
    experimentsDir: path.join(dir, 'experiments'),
    code: { snapshotDir: path.join(dir, 'results', 'b-1', 'code') },
  };
  const copyDir = path.join(settings.code.snapshotDir, 'experiments');
  await mkdir(settings.experimentsDir, { recursive: true });
  await mkdir(copyDir, { recursive: true });
  for (const [file, text] of [
    ['exp1_x.py', '"""Sweep: lr=1,2"""\n'],
    ['exp2_y.py', 'print("y")\n'],
  ]) {
    await writeFile(path.join(settings.experimentsDir, file), text);
    await writeFile(path.join(copyDir, file), text);
  }
  return { settings, copyDir };
}

const inBatch = [{ file: 'exp1_x.py' }, { file: 'exp1_x.py' }];

test('an edited script whose members are queued is refused, and its copy stays as submitted', async () => {
  const { settings, copyDir } = await batchWithCopy();
  await writeFile(path.join(settings.experimentsDir, 'exp1_x.py'), '"""Sweep: lr=3"""\n');
  const added = [{ name: 'exp1_x[lr=3]', file: 'exp1_x.py' }];
  await expect(snapshotAdded(settings, added, inBatch)).rejects.toThrow(BadInputError);
  await expect(snapshotAdded(settings, added, inBatch)).rejects.toThrow(
    /exp1_x.py has changed since the batch's copy of it was taken, and experiments of the batch run that copy/,
  );
  expect(await readFile(path.join(copyDir, 'exp1_x.py'), 'utf8')).toBe('"""Sweep: lr=1,2"""\n');
  expect((await readdir(copyDir)).sort()).toEqual(['exp1_x.py', 'exp2_y.py']);
});

test('an unchanged script, a new one, and one no experiment runs join the copy; undo takes them back', async () => {
  const { settings, copyDir } = await batchWithCopy();
  await writeFile(path.join(settings.experimentsDir, 'exp2_y.py'), 'print("y2")\n');
  await writeFile(path.join(settings.experimentsDir, 'exp3_z.py'), 'print("z")\n');
  const added = [
    { name: 'exp1_x[lr=3]', file: 'exp1_x.py' },
    { name: 'exp2_y', file: 'exp2_y.py' },
    { name: 'exp3_z', file: 'exp3_z.py' },
  ];
  const copies = await snapshotAdded(settings, added, inBatch);
  expect(await readFile(path.join(copyDir, 'exp2_y.py'), 'utf8')).toBe('print("y2")\n');
  expect(await readFile(path.join(copyDir, 'exp3_z.py'), 'utf8')).toBe('print("z")\n');
  await copies.undo(); // the batch refused the add
  expect(await readFile(path.join(copyDir, 'exp2_y.py'), 'utf8')).toBe('print("y")\n');
  expect((await readdir(copyDir)).sort()).toEqual(['exp1_x.py', 'exp2_y.py']);

  const accepted = await snapshotAdded(settings, added, inBatch);
  await accepted.keep();
  expect(await readFile(path.join(copyDir, 'exp2_y.py'), 'utf8')).toBe('print("y2")\n');
  expect((await readdir(copyDir)).sort()).toEqual(['exp1_x.py', 'exp2_y.py', 'exp3_z.py']);
});
