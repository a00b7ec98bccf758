/** Discovery on a real directory: which files are experiments, their ids, names and priorities. */
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  discoverExperiments,
  discoverScripts,
  refuseBadHeaders,
  refuseNotExecutable,
} from '../../src/experiments/discover.js';
import { selectExperiments } from '../../src/experiments/select.js';
import { tempDir } from '../helpers/scripts.js';

async function file(dir: string, name: string, text: string, mode = 0o644): Promise<void> {
  await writeFile(path.join(dir, name), text);
  await chmod(path.join(dir, name), mode);
}

test('finds *.py files and executables, skips _ and . names, directories and plain files', async () => {
  const dir = await tempDir('discover');
  await file(dir, 'exp125_adaptive_stop_loss.py', '"""Adaptive stop-loss."""\n');
  await file(dir, 'exp7_run.sh', '#!/bin/sh\n# Production run\n', 0o755);
  await file(dir, 'exp8_binary', '#!/bin/sh\necho hi\n', 0o755);
  await file(dir, '_helper.py', '"""Not an experiment."""\n');
  await file(dir, '.hidden.py', '');
  await file(dir, 'notes.txt', 'Production notes');
  await mkdir(path.join(dir, 'exp9_data'));

  const found = await discoverExperiments(dir);
  const byName = Object.fromEntries(found.map((experiment) => [experiment.name, experiment]));
  expect(Object.keys(byName).sort()).toEqual(['exp125_adaptive_stop_loss', 'exp7_run', 'exp8_binary']);
  expect(byName.exp125_adaptive_stop_loss).toMatchObject({
    id: 'exp125',
    file: 'exp125_adaptive_stop_loss.py',
    priority: 'high',
  });
  expect(byName.exp7_run).toMatchObject({ id: 'exp7', priority: 'critical' });
  expect(byName.exp8_binary).toMatchObject({ id: 'exp8', priority: 'medium' });
});

test('a shell script or #! file without its exec bit is refused if selected; other plain files stay out', async () => {
  const dir = await tempDir('discover-noexec');
  await file(dir, 'exp2_ok.sh', '#!/bin/sh\n', 0o755);
  await file(dir, 'data.csv', 'a,b\n');
  await file(dir, '_draft.sh', '#!/bin/sh\n');
  expect((await discoverExperiments(dir)).map((experiment) => experiment.name)).toEqual(['exp2_ok']);
  await file(dir, 'exp1_noexec.sh', 'echo hi\n');
  await file(dir, 'exp3_tool', '#!/usr/bin/env bash\n');
  const found = await discoverExperiments(dir);
  expect(found.filter((e) => e.notExecutable).map((e) => e.name)).toEqual(['exp1_noexec', 'exp3_tool']);
  expect(() => refuseNotExecutable(found.filter((e) => e.name !== 'exp3_tool'))).toThrow(
    /exp1_noexec\.sh is not executable: chmod \+x it/,
  );
  expect(() => refuseNotExecutable(found.filter((e) => e.name === 'exp2_ok'))).not.toThrow(); // not selected
});

test('a missing directory and a malformed Priority line are errors that name the path', async () => {
  const dir = await tempDir('discover-bad');
  await expect(discoverExperiments(path.join(dir, 'nope'))).rejects.toThrow(/experiments directory not found: .*nope/);
  await file(dir, 'exp1_bad.py', '"""Title\n\nPriority: soonish\n"""\n');
  await expect(discoverExperiments(dir)).rejects.toThrow(/exp1_bad\.py: malformed line "Priority: soonish"/);
});

test('a docstring that is not valid UTF-8 is an error naming the file', async () => {
  const dir = await tempDir('discover-utf8');
  await writeFile(
    path.join(dir, 'exp1_latin1.py'),
    Buffer.from([0x22, 0x22, 0x22, 0x43, 0x61, 0x66, 0xe9, 0x22, 0x22, 0x22, 0x0a]),
  );
  await expect(discoverExperiments(dir)).rejects.toThrow(/exp1_latin1\.py: its docstring is not valid UTF-8/);
});

test('a *.py that is a directory and a script that cannot be read are errors naming the file', async () => {
  const withDirectory = await tempDir('discover-dir');
  await mkdir(path.join(withDirectory, 'exp9_dir.py'));
  await expect(discoverExperiments(withDirectory)).rejects.toThrow(/exp9_dir\.py is a directory, not a script/);
  const withDanglingLink = await tempDir('discover-link');
  await symlink(path.join(withDanglingLink, 'gone.py'), path.join(withDanglingLink, 'exp1_link.py'));
  await expect(discoverExperiments(withDanglingLink)).rejects.toThrow(/exp1_link\.py: cannot read it \(ENOENT\)/);
});

test('two files with the same name and different extensions are refused, naming both', async () => {
  const dir = await tempDir('discover-dup');
  await file(dir, 'exp6_dup.py', '"""Duplicate."""\n');
  await file(dir, 'exp6_dup.sh', '#!/bin/sh\n# Duplicate\n', 0o755);
  await file(dir, 'exp7_single.py', '"""Fine."""\n');
  await expect(discoverExperiments(dir)).rejects.toThrow(
    `${path.join(dir, 'exp6_dup.py')} and ${path.join(dir, 'exp6_dup.sh')} have the same name "exp6_dup"; rename one`,
  );
});

test('a Requires: line is read into the spec; a malformed one names the file and its line number', async () => {
  const dir = await tempDir('discover-requires');
  await file(dir, 'exp1_train.py', '"""Train.\n\nRequires: gpu, mem=16G\n"""\n');
  await file(dir, 'exp2_plain.sh', '#!/bin/sh\n# Plain\n', 0o755);
  const found = await discoverExperiments(dir);
  expect(found.map((experiment) => [experiment.name, experiment.requires])).toEqual([
    ['exp1_train', { gpu: 1, mem: 16 * 1024 ** 3 }],
    ['exp2_plain', undefined],
  ]);

  await file(dir, 'exp3_bad.sh', '#!/bin/sh\n# Bad\n#\n# Requires: gpu=two\n', 0o755);
  await expect(discoverExperiments(dir)).rejects.toThrow(
    /exp3_bad\.sh:4: malformed line "Requires: gpu=two": "two" is not an amount/,
  );
});

test('a malformed header line refuses only a selection that takes its script, naming the file and line', async () => {
  const dir = await tempDir('discover-draft');
  await file(dir, 'exp1_ok.py', '"""Fine.\n\nPriority: high\n"""\n');
  await file(dir, 'exp11_badreq.py', '"""Draft.\n\nRequires: gpu=two\n"""\n');
  await file(dir, 'exp12_badsweep.py', '"""Draft.\n\nSweep: lr=0.1..0.5\n"""\n');
  await file(dir, 'exp13_badprio.py', '"""Draft.\n\nPriority: soonish\n"""\n');
  await file(dir, 'exp14_quota.py', '"""Draft.\n\nQuota: nope\n"""\n');
  const found = await discoverScripts(dir);
  expect(found.map((e) => [e.name, e.headerError === undefined])).toEqual([
    ['exp11_badreq', false],
    ['exp12_badsweep', false],
    ['exp13_badprio', false],
    ['exp14_quota', false],
    ['exp1_ok', true],
  ]);
  const picked = selectExperiments(found, { experiments: 'exp1' });
  expect(() => refuseBadHeaders(picked)).not.toThrow();
  expect(picked.map((e) => [e.name, e.priority])).toEqual([['exp1_ok', 'high']]);

  const refusal = (selection: { experiments?: string; priority?: string }) => () =>
    refuseBadHeaders(selectExperiments(found, selection));
  expect(refusal({ experiments: 'exp11' })).toThrow(/exp11_badreq\.py:3: malformed line "Requires: gpu=two"/);
  expect(refusal({ experiments: 'exp12_badsweep' })).toThrow(
    /exp12_badsweep\.py:3: lr=0\.1\.\.0\.5: ranges are integers/,
  );
  expect(refusal({ experiments: 'exp13' })).toThrow(/exp13_badprio\.py: malformed line "Priority: soonish"/);
  expect(refusal({ experiments: 'exp14' })).toThrow(/exp14_quota\.py: unknown quota nope/);
  // A level filter cannot judge a script whose header it could not read: refused, not silently left out.
  expect(refusal({ priority: 'critical' })).toThrow(/exp11_badreq\.py:3/);
  // The whole directory, as `submit` with no selection takes it, is refused as before.
  await expect(discoverExperiments(dir)).rejects.toThrow(/exp11_badreq\.py:3: malformed line "Requires: gpu=two"/);
});
