/** `--snapshot`: which paths are copied, the size limit, and the copy itself, on a real file system. */
import { chmod, lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadProjectConfig } from '../../src/config.js';
import { BadInputError } from '../../src/errors.js';
import {
  copySnapshot,
  DEFAULT_SNAPSHOT_LIMIT_BYTES,
  planSnapshot,
  snapshotAdded,
  snapshotRequest,
} from '../../src/experiments/code-snapshot.js';
import { codeEnvironment, checkedScriptsDir, scriptsDirOf } from '../../src/machine/code-dir.js';
import type { BatchSettings } from '../../src/model/types.js';
import { tempDir } from '../helpers/scripts.js';

async function put(file: string, text = 'x\n'): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

/** A work dir with experiments, a src/ package, and what a snapshot must leave out. */
async function workDir(): Promise<string> {
  const dir = await tempDir('snapshot');
  await put(path.join(dir, 'experiments', 'exp1.py'), 'print("one")\n');
  await put(path.join(dir, 'experiments', 'exp2.sh'), '#!/bin/sh\necho two\n');
  await chmod(path.join(dir, 'experiments', 'exp2.sh'), 0o755);
  await put(path.join(dir, 'experiments', '__pycache__', 'exp1.cpython-312.pyc'));
  await put(path.join(dir, 'src', 'pkg', 'helper.py'), 'MARK = "old"\n');
  await put(path.join(dir, 'src', 'node_modules', 'dep', 'index.js'));
  await put(path.join(dir, 'src', '.git', 'HEAD'));
  await put(path.join(dir, 'results', 'earlier', 'summary.json'));
  await put(path.join(dir, 'data', 'prices.csv'), 'p\n'.repeat(1000));
  await symlink('../data/prices.csv', path.join(dir, 'experiments', 'prices.csv'));
  return dir;
}

const relativeEntries = (plan: Awaited<ReturnType<typeof planSnapshot>>) =>
  plan.entries.map((entry) => `${entry.kind} ${entry.relative}`);

describe('snapshotRequest', () => {
  test('off unless --snapshot or a config "snapshot" list; the flag limit beats the config one', () => {
    expect(snapshotRequest(false, undefined, {})).toBeUndefined();
    expect(snapshotRequest(true, undefined, {})).toEqual({ paths: [], limitBytes: DEFAULT_SNAPSHOT_LIMIT_BYTES });
    expect(snapshotRequest(false, undefined, { snapshot: ['src/'], snapshotLimit: 5 })).toEqual({
      paths: ['src/'],
      limitBytes: 5,
    });
    expect(snapshotRequest(true, 7, { snapshot: ['src/'], snapshotLimit: 5 })?.limitBytes).toBe(7);
  });

  test('staged.config.json: "snapshot" paths and "snapshotLimit" are read, and checked', async () => {
    const dir = await tempDir('snapshot-config');
    await writeFile(
      path.join(dir, 'staged.config.json'),
      '{"snapshot": ["experiments/", "src/"], "snapshotLimit": "1G"}',
    );
    const config = await loadProjectConfig(dir);
    expect(config.snapshot).toEqual(['experiments/', 'src/']);
    expect(config.snapshotLimit).toBe(1024 ** 3);
    await writeFile(path.join(dir, 'staged.config.json'), '{"snapshot": [], "snapshotLimit": "lots"}');
    const err = await loadProjectConfig(dir).catch((error: unknown) => error);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toMatch(
      /at least one path\s+→ at snapshot\n[\s\S]*not an amount[\s\S]*→ at snapshotLimit/,
    );
  });
});

describe('planSnapshot', () => {
  test('the experiments dir always, the listed paths, never .git, node_modules, __pycache__, results/', async () => {
    const dir = await workDir();
    const plan = await planSnapshot(dir, path.join(dir, 'experiments'), {
      paths: ['src/', './experiments', 'src/pkg'],
      limitBytes: DEFAULT_SNAPSHOT_LIMIT_BYTES,
    });
    expect(relativeEntries(plan)).toEqual([
      'dir experiments',
      'file experiments/exp1.py',
      'file experiments/exp2.sh',
      'link experiments/prices.csv',
      'dir src',
      'dir src/pkg',
      'file src/pkg/helper.py',
    ]);
    const whole = await planSnapshot(dir, path.join(dir, 'experiments'), { paths: ['.'], limitBytes: 1e9 });
    expect(relativeEntries(whole).filter((entry) => /results|\.git|node_modules|__pycache__/.test(entry))).toEqual([]);
    expect(relativeEntries(whole)).toContain('file data/prices.csv');
    // Scripts at the work dir's top (--dir .): the whole work dir is copied, less what is never copied.
    const top = await planSnapshot(dir, dir, { paths: ['src'], limitBytes: 1e9 });
    expect(top.roots).toEqual(['.']);
    expect(relativeEntries(top)).toEqual(relativeEntries(whole));
  });

  test('bad paths and a snapshot over the limit are bad input, naming the biggest paths', async () => {
    const dir = await workDir();
    const experiments = path.join(dir, 'experiments');
    const refused = (paths: string[], limitBytes = 1e9, exps = experiments) =>
      planSnapshot(dir, exps, { paths, limitBytes }).then(
        () => 'accepted',
        (err: Error) => `${err.constructor.name}: ${err.message}`,
      );
    expect(await refused(['../elsewhere'])).toMatch(/BadInputError: snapshot: \.\.\/elsewhere is outside the work dir/);
    expect(await refused(['nothing/'])).toMatch(/BadInputError: snapshot: nothing does not exist/);
    expect(await refused(['results/earlier'])).toMatch(/inside results\/, which is never copied/);
    expect(await refused([], 1e9, path.join(dir, '..'))).toMatch(
      /experiments directory .* must be inside the work dir/,
    );
    const tooBig = await refused(['.'], 1000);
    expect(tooBig).toMatch(
      /^BadInputError: the snapshot would copy 2\.\dK, over the limit of 1000B; nothing was submitted/,
    );
    expect(tooBig).toMatch(/nothing was submitted\. Biggest: data\/prices\.csv 2\.0K, /);
    expect(tooBig).toMatch(/--snapshot-limit/);
  });
});

describe('copySnapshot', () => {
  test('copies at the same relative places, keeps modes and links, and the copy does not follow edits', async () => {
    const dir = await workDir();
    const plan = await planSnapshot(dir, path.join(dir, 'experiments'), { paths: ['src'], limitBytes: 1e9 });
    const copy = path.join(dir, 'results', 'b-1', 'code');
    await copySnapshot(plan, copy);
    expect(await readFile(path.join(copy, 'src', 'pkg', 'helper.py'), 'utf8')).toBe('MARK = "old"\n');
    expect((await stat(path.join(copy, 'experiments', 'exp2.sh'))).mode & 0o777).toBe(0o755);
    expect((await lstat(path.join(copy, 'experiments', 'prices.csv'))).isSymbolicLink()).toBe(true);
    expect(await readlink(path.join(copy, 'experiments', 'prices.csv'))).toBe('../data/prices.csv');
    // An edit in place (same inode, as many editors write) must not reach the copy: no hard links.
    await writeFile(path.join(dir, 'src', 'pkg', 'helper.py'), 'MARK = "new"\n');
    expect(await readFile(path.join(copy, 'src', 'pkg', 'helper.py'), 'utf8')).toBe('MARK = "old"\n');
    expect((await stat(path.join(copy, 'src', 'pkg', 'helper.py'))).ino).not.toBe(
      (await stat(path.join(dir, 'src', 'pkg', 'helper.py'))).ino,
    );
  });

  test('runs find their scripts in the copy, import from it first, and add copies a script in', async () => {
    const dir = await workDir();
    const settings = {
      workDir: dir,
      experimentsDir: path.join(dir, 'experiments'),
      code: { snapshotDir: path.join(dir, 'results', 'b-1', 'code') },
    } as BatchSettings;
    expect(scriptsDirOf(settings)).toBe(path.join(dir, 'results', 'b-1', 'code', 'experiments'));
    expect(codeEnvironment({ PYTHONPATH: '/lib' }, settings)).toEqual({
      STAGED_CODE_DIR: settings.code!.snapshotDir,
      PYTHONPATH: `${settings.code!.snapshotDir}:/lib`,
    });
    expect(codeEnvironment({}, { ...settings, code: {} })).toEqual({ STAGED_CODE_DIR: dir });
    expect(scriptsDirOf({ ...settings, code: undefined })).toBe(settings.experimentsDir);
    expect(scriptsDirOf({ ...settings, experimentsDir: dir })).toBe(settings.code!.snapshotDir);
    expect(() => scriptsDirOf({ ...settings, experimentsDir: '/elsewhere' })).toThrow(/not inside the snapshot/);

    await put(path.join(dir, 'experiments', 'exp3.py'), 'print("three")\n');
    await snapshotAdded(settings, [{ name: 'exp3', file: 'exp3.py' }], []);
    expect(await readFile(path.join(scriptsDirOf(settings), 'exp3.py'), 'utf8')).toBe('print("three")\n');
    await expect(snapshotAdded(settings, [{ name: 'code', file: 'code.py' }], [])).rejects.toThrow(/rename the script/);

    // The snapshot root goes on PYTHONPATH: it must be served like the scripts.
    expect(await checkedScriptsDir(settings, [dir])).toBe(scriptsDirOf(settings));
    const elsewhere = await tempDir('snapshot-elsewhere');
    await mkdir(path.join(elsewhere, 'experiments'));
    const outside = { ...settings, workDir: elsewhere, experimentsDir: path.join(elsewhere, 'experiments') };
    const served = [path.join(dir, 'results', 'b-1', 'code', 'experiments'), elsewhere];
    await expect(checkedScriptsDir(outside, served)).rejects.toThrow(/code snapshot .* is outside the directories/);
  });
});
