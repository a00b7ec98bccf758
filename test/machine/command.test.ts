/** Which command runs an experiment file, and what is refused with which message: real files, real processes. */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { resolveCommand } from '../../src/machine/command.js';
import { NotRunnableError } from '../../src/errors.js';
import { pythonSetting } from '../../src/settings.js';
import { tempDir } from '../helpers/scripts.js';

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NotRunnableError);
  return (err as NotRunnableError).message;
}

const PATH_ONLY = { PATH: process.env.PATH };

test('the Python interpreter is STAGED_PYTHON when set (and not empty), else python3', () => {
  expect(pythonSetting({})).toBe('python3');
  expect(pythonSetting({ STAGED_PYTHON: '' })).toBe('python3');
  expect(pythonSetting({ STAGED_PYTHON: '/opt/venv/bin/python' })).toBe('/opt/venv/bin/python');
});

test('a .py file runs with the interpreter, and need not be executable', async () => {
  const dir = await tempDir('command-py');
  const script = path.join(dir, 'exp1_train.py');
  await writeFile(script, 'print("hello from python")\n', { mode: 0o644 });

  const command = await resolveCommand(script, PATH_ONLY);

  expect(command).toEqual({ file: 'python3', args: [script] });
  expect((await execa(command.file, command.args)).stdout).toBe('hello from python');
});

test('an executable script with a shebang runs itself, with no arguments', async () => {
  const dir = await tempDir('command-shebang');
  const script = path.join(dir, 'exp1_run.sh');
  await writeFile(script, '#!/bin/sh\necho "hello from sh"\n', { mode: 0o755 });

  const command = await resolveCommand(script, PATH_ONLY);

  expect(command).toEqual({ file: script, args: [] });
  expect((await execa(command.file, command.args)).stdout).toBe('hello from sh');
});

test('STAGED_PYTHON picks the interpreter: a name is looked up on PATH, and kept as given', async () => {
  const dir = await tempDir('command-interpreter');
  const bin = path.join(dir, 'bin');
  await mkdir(bin);
  await writeFile(path.join(bin, 'mypython'), '#!/bin/sh\necho "mypython ran $1"\n', { mode: 0o755 });
  const script = path.join(dir, 'exp1.py');
  await writeFile(script, 'print(1)\n');

  const command = await resolveCommand(script, { PATH: bin, STAGED_PYTHON: 'mypython' });

  expect(command).toEqual({ file: 'mypython', args: [script] });
  expect((await execa(command.file, command.args, { env: { PATH: bin } })).stdout).toBe(`mypython ran ${script}`);
});

test('a Python interpreter that does not exist is refused, saying which and to set STAGED_PYTHON', async () => {
  const dir = await tempDir('command-no-python');
  const script = path.join(dir, 'exp1.py');
  await writeFile(script, 'print(1)\n');

  expect(await refusal(resolveCommand(script, { PATH: dir, STAGED_PYTHON: '/nonexistent/python3' }))).toBe(
    'cannot start /nonexistent/python3: no such executable (set STAGED_PYTHON)',
  );
  expect(await refusal(resolveCommand(script, { PATH: dir, STAGED_PYTHON: 'python-not-there' }))).toBe(
    'cannot start python-not-there: no such executable (set STAGED_PYTHON)',
  );
  // Found on the machine's PATH, but not on the one the experiment gets.
  expect(await refusal(resolveCommand(script, { PATH: dir }))).toMatch(/^cannot start python3: no such executable/);
});

test('a file that is not executable and not .py is refused, saying how to fix it', async () => {
  const dir = await tempDir('command-not-executable');
  const script = path.join(dir, 'exp1_run.sh');
  await writeFile(script, '#!/bin/sh\necho hi\n', { mode: 0o644 });

  expect(await refusal(resolveCommand(script, PATH_ONLY))).toBe(
    `script is not executable: ${script} (chmod +x it, or use a .py file)`,
  );
});

test("whether it is Python comes from the experiment's own name, not the file a symlink points to", async () => {
  const dir = await tempDir('command-symlink');
  const target = path.join(dir, 'train_model');
  await writeFile(target, 'print(1)\n', { mode: 0o644 });
  const link = path.join(dir, 'exp1_train.py');
  await symlink(target, link);

  expect(await resolveCommand(target, PATH_ONLY, true)).toEqual({ file: 'python3', args: [target] });
  expect(await resolveCommand(link, PATH_ONLY)).toEqual({ file: 'python3', args: [link] });
  expect(await refusal(resolveCommand(target, PATH_ONLY))).toMatch(/^script is not executable/);
});

test('a missing file, a directory and a device are refused, each saying which', async () => {
  const dir = await tempDir('command-refused');
  await mkdir(path.join(dir, 'exp2_dir.py'));

  expect(await refusal(resolveCommand(path.join(dir, 'exp1_gone.sh'), PATH_ONLY))).toBe(
    `script not found: ${path.join(dir, 'exp1_gone.sh')}`,
  );
  expect(await refusal(resolveCommand(path.join(dir, 'exp2_dir.py'), PATH_ONLY))).toBe(
    `${path.join(dir, 'exp2_dir.py')} is a directory, not a script`,
  );
  expect(await refusal(resolveCommand('/dev/null', PATH_ONLY))).toBe('/dev/null is not a regular file');
});

test("a path that cannot be read for another reason is refused with the system's code", async () => {
  const dir = await tempDir('command-unreadable');
  await writeFile(path.join(dir, 'plain'), '');
  await symlink('loop-b', path.join(dir, 'loop-a'));
  await symlink('loop-a', path.join(dir, 'loop-b'));

  expect(await refusal(resolveCommand(path.join(dir, 'plain', 'exp1.sh'), PATH_ONLY))).toBe(
    `cannot read script ${path.join(dir, 'plain', 'exp1.sh')}: ENOTDIR`,
  );
  expect(await refusal(resolveCommand(path.join(dir, 'loop-a'), PATH_ONLY))).toBe(
    `cannot read script ${path.join(dir, 'loop-a')}: ELOOP`,
  );
});
