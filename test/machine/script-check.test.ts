/** The script check on real directories and real symlinks: every refusal, and what it accepts. */
import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NotRunnableError } from '../../src/errors.js';
import {
  checkPlainName,
  checkScript,
  checkServedDirectory,
  type ScriptCheckInput,
} from '../../src/machine/script-check.js';
import { isInside } from '../../src/paths.js';
import { tempDir } from '../helpers/scripts.js';

/** <root>/serve/experiments/exp1_ok.py and <root>/outside/evil.sh; the worker serves <root>/serve. */
async function layout(): Promise<{ root: string; served: string; experiments: string; outside: string }> {
  const root = await realpath(await tempDir('script-check'));
  const served = path.join(root, 'serve');
  const experiments = path.join(served, 'experiments');
  const outside = path.join(root, 'outside');
  await mkdir(experiments, { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(experiments, 'exp1_ok.py'), 'print(1)\n');
  await writeFile(path.join(outside, 'evil.sh'), '#!/bin/sh\n', { mode: 0o755 });
  return { root, served, experiments, outside };
}

function input(experiments: string, served: string, overrides: Partial<ScriptCheckInput> = {}): ScriptCheckInput {
  return {
    experimentsDir: experiments,
    file: 'exp1_ok.py',
    experimentName: 'exp1_ok',
    batchId: 'batch-1',
    allowedRoots: [served],
    ...overrides,
  };
}

async function refusal(promise: Promise<unknown>): Promise<NotRunnableError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NotRunnableError);
  return err as NotRunnableError;
}

test('a plain script inside the served experiments directory is accepted, as its real path', async () => {
  const { served, experiments } = await layout();
  await expect(checkScript(input(experiments, served))).resolves.toBe(path.join(experiments, 'exp1_ok.py'));
  // The experiments directory may be the served root itself.
  await expect(checkScript(input(experiments, served, { allowedRoots: [experiments] }))).resolves.toBe(
    path.join(experiments, 'exp1_ok.py'),
  );
});

test('a symlink inside the directory pointing to another file inside is accepted, resolved', async () => {
  const { served, experiments } = await layout();
  await mkdir(path.join(experiments, 'lib'));
  await writeFile(path.join(experiments, 'lib', 'real.py'), 'print(2)\n');
  await symlink(path.join(experiments, 'lib', 'real.py'), path.join(experiments, 'exp2_link.py'));
  await symlink('exp1_ok.py', path.join(experiments, 'exp3_relative_link.py'));
  await expect(
    checkScript(input(experiments, served, { file: 'exp2_link.py', experimentName: 'exp2_link' })),
  ).resolves.toBe(path.join(experiments, 'lib', 'real.py'));
  await expect(checkScript(input(experiments, served, { file: 'exp3_relative_link.py' }))).resolves.toBe(
    path.join(experiments, 'exp1_ok.py'),
  );
});

test('a root given as a symlink, and an experiments directory reached through one, work', async () => {
  const { root, served, experiments } = await layout();
  const rootLink = path.join(root, 'served-link');
  await symlink(served, rootLink);
  await expect(checkScript(input(experiments, served, { allowedRoots: [rootLink] }))).resolves.toBe(
    path.join(experiments, 'exp1_ok.py'),
  );
  await expect(checkScript(input(path.join(rootLink, 'experiments'), served))).resolves.toBe(
    path.join(experiments, 'exp1_ok.py'),
  );
});

test.each([
  ['batchId', '', /batch id "" is empty/],
  ['batchId', '..', /batch id "\.\." contains "\.\."/],
  ['batchId', 'a/b', /batch id "a\/b" contains "\/"/],
  ['batchId', 'a\0b', /batch id "a\\u0000b" contains a NUL byte/],
  ['batchId', '.', /batch id "\." is "\."/],
  ['experimentName', '', /experiment name "" is empty/],
  ['experimentName', '../x', /experiment name "\.\.\/x" contains "\/"/],
  ['experimentName', 'x..y', /experiment name "x\.\.y" contains "\.\."/],
  ['experimentName', 'x\0', /experiment name "x\\u0000" contains a NUL byte/],
  ['file', '../../bin/x', /experiment file "\.\.\/\.\.\/bin\/x" contains "\/"/],
  ['file', '/bin/sh', /experiment file "\/bin\/sh" contains "\/"/],
  ['file', '..', /experiment file "\.\." contains "\.\."/],
  ['file', '', /experiment file "" is empty/],
] as const)('%s %j is refused', async (field, value, message) => {
  const { served, experiments } = await layout();
  const err = await refusal(checkScript(input(experiments, served, { [field]: value })));
  expect(err.message).toMatch(message);
});

test('a relative experiments directory is refused', async () => {
  const { served } = await layout();
  const err = await refusal(checkScript(input('serve/experiments', served)));
  expect(err.message).toBe('experiments directory "serve/experiments" is not an absolute path');
});

test('an experiments directory outside every served root is refused, naming both and the fix', async () => {
  const { root, served, outside } = await layout();
  await writeFile(path.join(outside, 'exp1_ok.py'), 'print(1)\n');
  const err = await refusal(checkScript(input(outside, served)));
  expect(err.message).toBe(
    `experiments directory ${outside} is outside the directories this worker serves (${served}); ` +
      `start the worker with --allow-dir ${outside} to serve it`,
  );
  // Inside means whole path segments: <root>/serve-more is not inside <root>/serve.
  const sibling = path.join(root, 'serve-more');
  await mkdir(sibling);
  await writeFile(path.join(sibling, 'exp1_ok.py'), 'print(1)\n');
  await expect(refusal(checkScript(input(sibling, served)))).resolves.toHaveProperty(
    'message',
    expect.stringContaining(`experiments directory ${sibling} is outside`),
  );
  // No roots, or only missing ones, serve nothing.
  const none = await refusal(checkScript(input(outside, served, { allowedRoots: [path.join(root, 'missing')] })));
  expect(none.message).toContain('outside the directories this worker serves (none)');
});

test(
  'an experiments directory that is a symlink out of the served root is refused, showing where it ' + 'leads',
  async () => {
    const { served, outside } = await layout();
    await writeFile(path.join(outside, 'exp1_ok.py'), 'print(1)\n');
    const escape = path.join(served, 'escape');
    await symlink(outside, escape);
    const err = await refusal(checkScript(input(escape, served)));
    expect(err.message).toContain(`experiments directory ${escape} (really ${outside}) is outside`);
  },
);

test('a script that is a symlink pointing out of the experiments directory is refused', async () => {
  const { served, experiments, outside } = await layout();
  await symlink(path.join(outside, 'evil.sh'), path.join(experiments, 'exp4_out.sh'));
  // Out of the experiments directory but still inside the served root: refused too.
  await writeFile(path.join(served, 'sibling.py'), 'print(3)\n');
  await symlink('../sibling.py', path.join(experiments, 'exp5_up.py'));

  const out = await refusal(
    checkScript(input(experiments, served, { file: 'exp4_out.sh', experimentName: 'exp4_out' })),
  );
  expect(out.message).toBe(
    `${path.join(experiments, 'exp4_out.sh')} resolves to ${path.join(outside, 'evil.sh')}, ` +
      `outside the experiments directory ${experiments} (symlinks pointing out of it are refused)`,
  );
  const up = await refusal(checkScript(input(experiments, served, { file: 'exp5_up.py', experimentName: 'exp5_up' })));
  expect(up.message).toContain(`resolves to ${path.join(served, 'sibling.py')}, outside the experiments directory`);
});

test('a missing script, a dangling symlink and a missing experiments directory say so', async () => {
  const { served, experiments } = await layout();
  await symlink(path.join(experiments, 'gone.py'), path.join(experiments, 'exp6_dangling.py'));
  const missing = await refusal(checkScript(input(experiments, served, { file: 'exp9_none.py' })));
  expect(missing.message).toBe(`script not found: ${path.join(experiments, 'exp9_none.py')}`);
  const dangling = await refusal(checkScript(input(experiments, served, { file: 'exp6_dangling.py' })));
  expect(dangling.message).toBe(`${path.join(experiments, 'exp6_dangling.py')} is a symlink to a missing file`);
  const noDir = await refusal(checkScript(input(path.join(served, 'nope'), served)));
  expect(noDir.message).toBe(`experiments directory not found: ${path.join(served, 'nope')}`);
});

test('a relative allowed root is a programming error, not a refusal of the experiment', async () => {
  const { experiments } = await layout();
  const err = await checkScript(input(experiments, 'serve', { allowedRoots: ['serve'] })).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(NotRunnableError);
  expect((err as Error).message).toBe('allowed root must be an absolute path: serve');
});

test('the work directory is held to the same roots, and a batch id alone can be checked', async () => {
  const { root, served, experiments, outside } = await layout();
  await expect(checkServedDirectory('work directory', served, [served])).resolves.toBe(served);
  await symlink(served, path.join(root, 'work-link'));
  await expect(checkServedDirectory('work directory', path.join(root, 'work-link'), [served])).resolves.toBe(served);
  const err = await refusal(checkServedDirectory('work directory', outside, [served]));
  expect(err.message).toBe(
    `work directory ${outside} is outside the directories this worker serves (${served}); start the worker with ` +
      `--allow-dir ${outside} to serve it`,
  );
  await expect(refusal(checkServedDirectory('work directory', 'relative', [experiments]))).resolves.toHaveProperty(
    'message',
    'work directory "relative" is not an absolute path',
  );
  expect(() => checkPlainName('batch id', '../../etc')).toThrow(NotRunnableError);
  expect(() => checkPlainName('batch id', 'batch-20261128-151108-37si')).not.toThrow();
});

test('isInside compares whole path segments', () => {
  expect(isInside('/data/exp', '/data/exp')).toBe(true);
  expect(isInside('/data/exp', '/data/exp/a/b.py')).toBe(true);
  expect(isInside('/data/exp', '/data/exp/..x/b.py')).toBe(true);
  expect(isInside('/data/ex', '/data/exp')).toBe(false);
  expect(isInside('/data/exp', '/data')).toBe(false);
  expect(isInside('/data/exp', '/data/exp2/a.py')).toBe(false);
  expect(isInside('/', '/anything')).toBe(true);
});
