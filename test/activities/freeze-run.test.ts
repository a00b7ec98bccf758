/** The freeze request as a worker writes it: a keeper that cannot freeze gets none; an ended run none either. */
import { access } from 'node:fs/promises';
import { freezeRun } from '../../src/activities/freeze-run.js';
import { RunFiles } from '../../src/keeper/run-files.js';
import { tempDir } from '../helpers/scripts.js';

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

async function runDir(): Promise<RunFiles> {
  const files = RunFiles.of(await tempDir('freeze-run'), 'exp.run-1');
  await files.claim();
  await files.writeJson(files.state, { keeperPid: 1, pid: 2, startedAt: 0, killMode: 'process-scan' });
  return files;
}

test('a run whose keeper writes no frozen.json (started before pause <exp>) is not asked to freeze', async () => {
  const files = await runDir();
  expect(await freezeRun(files, true)).toEqual({ pausedSince: null, ended: false });
  expect(await exists(files.freezeRequest)).toBe(false);
});

test('a run that has ended, or whose directory is gone, is not asked either', async () => {
  const files = await runDir();
  await files.writeJson(files.frozen, { since: null, endedSpansMs: 0 });
  await files.writeJson(files.exit, { end: 'exited', exitCode: 0, signal: null, endedAt: 1, tail: [] });
  expect(await freezeRun(files, true)).toEqual({ pausedSince: null, ended: true });
  expect(await exists(files.freezeRequest)).toBe(false);
  expect(await freezeRun(new RunFiles(`${files.dir}-gone`), true)).toEqual({ pausedSince: null, ended: true });
});

test("the keeper's record answers: frozen since when, or thawed", async () => {
  const files = await runDir();
  await files.writeJson(files.frozen, { since: 1_234, endedSpansMs: 0 });
  expect(await freezeRun(files, true)).toEqual({ pausedSince: 1_234, ended: false });
  expect(await exists(files.freezeRequest)).toBe(true);
  await files.writeJson(files.frozen, { since: null, endedSpansMs: 5_000 });
  expect(await freezeRun(files, false)).toEqual({ pausedSince: null, ended: false });
  expect(await exists(files.freezeRequest)).toBe(false);
});
