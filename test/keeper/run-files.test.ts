/** A run's directory on its machine: its key, its files, and reading and writing them on the real file system. */
import { readdir, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { parseRunKey, runIdOf, runKeyOf, RunFiles, type RunExit } from '../../src/keeper/run-files.js';
import { runsRootSetting } from '../../src/settings.js';
import { tempDir } from '../helpers/scripts.js';

test('a run key is one path segment per workflow id and run, and tells runs apart', () => {
  expect(runKeyOf('batch-1/exp1_train', 1)).toBe('batch-1%2Fexp1_train.run-1');
  expect(runKeyOf('batch-1/exp1_train', 2)).not.toBe(runKeyOf('batch-1/exp1_train', 1));
  expect(runKeyOf('batch-1/exp1_train', 1)).not.toBe(runKeyOf('batch-2/exp1_train', 1));
  expect(runKeyOf('../../etc/x', 1)).not.toContain('/');
});

test('a run key gives back its workflow id and run; a legacy key, a bare workflow id, has no run', () => {
  expect(parseRunKey(runKeyOf("batch-1/exp 1[lr=0.1]'s.run-3", 12))).toEqual({
    workflowId: "batch-1/exp 1[lr=0.1]'s.run-3",
    run: 12,
  });
  expect(parseRunKey('batch-1%2Fexp1')).toEqual({ workflowId: 'batch-1/exp1' });
  expect(parseRunKey('bad%E0%A4.run-1')).toEqual({ workflowId: 'bad%E0%A4', run: 1 }); // not made by runKeyOf
});

test("a run's id is its run key and a digest of its directory: one batch id's runs of two setups differ", () => {
  const runKey = runKeyOf('nightly/exp1_train', 1);
  const one = runIdOf(path.join('/home/a/.staged/runs/server-1/staged', runKey));
  const other = runIdOf(path.join('/home/a/.staged/runs/server-2/staged', runKey));
  expect(one.slice(0, runKey.length + 1)).toBe(`${runKey}.`);
  expect(one.slice(runKey.length + 1)).toMatch(/^[0-9a-f]{8}$/);
  expect(other).not.toBe(one);
  expect(runIdOf(path.join('/home/a/.staged/runs/server-1/staged', runKey))).toBe(one);
  expect(runIdOf(path.join('/runs', runKeyOf(`nightly/${'x'.repeat(300)}`, 1))).length).toBeLessThanOrEqual(255);
});

test("a run's id is read from its spec; a run whose spec has none is known by its run key", async () => {
  const root = await tempDir('run-files-run-id');
  const files = RunFiles.of(root, runKeyOf('b/exp1', 1));
  await files.claim();
  expect(await files.runId()).toBe(runKeyOf('b/exp1', 1));
  await files.writeJson(files.spec, { runId: 'b%2Fexp1.run-1' }); // as a staged before runIdOf wrote it
  expect(await files.runId()).toBe('b%2Fexp1.run-1');
  await files.writeJson(files.spec, { runId: runIdOf(files.dir) });
  expect(await files.runId()).toBe(runIdOf(files.dir));
});

test('a run whose spec is gone is known by the run id its keeper kept in state.json, else by its run key', async () => {
  const root = await tempDir('run-files-run-id-state');
  const files = RunFiles.of(root, runKeyOf('b/exp1', 1));
  await files.claim();
  await files.writeJson(files.state, { keeperPid: 1, pid: 2, startedAt: 3, killMode: 'cgroup' }); // a keeper before
  expect(await files.runId()).toBe(runKeyOf('b/exp1', 1));
  // Before: the run key, so the cleanup of a run stopped through state.json waited on a cgroup that did not exist.
  await files.writeJson(files.state, { keeperPid: 1, pid: 2, startedAt: 3, killMode: 'cgroup', runId: 'b.kept' });
  expect(await files.runId()).toBe('b.kept');
});

test('runs live under STAGED_RUNS_DIR, else ~/.staged/runs', () => {
  expect(runsRootSetting({ STAGED_RUNS_DIR: '/srv/runs' })).toBe('/srv/runs');
  expect(runsRootSetting({})).toBe(path.join(homedir(), '.staged', 'runs'));
});

test("a run's files are in its own directory under the runs root", () => {
  const files = RunFiles.of('/srv/runs', 'b%2Fexp1.run-1');
  expect(files.dir).toBe('/srv/runs/b%2Fexp1.run-1');
  expect([files.spec, files.state, files.progress, files.exit, files.lease, files.stopReason, files.keeperLog]).toEqual(
    ['spec.json', 'state.json', 'progress.json', 'exit.json', 'lease', 'stop', 'keeper.log'].map((name) =>
      path.join(files.dir, name),
    ),
  );
});

test('claiming a run creates its directory (and the runs root) once; a second claim says it existed', async () => {
  const root = path.join(await tempDir('run-files-claim'), 'not', 'made', 'yet');
  const files = RunFiles.of(root, runKeyOf('b/exp1', 1));
  expect(await files.exists()).toBe(false);

  expect(await files.claim()).toBe(true);
  expect(await files.exists()).toBe(true);
  expect(await files.claim()).toBe(false);
  expect(await RunFiles.of(root, runKeyOf('b/exp1', 2)).claim()).toBe(true);
});

test('claiming fails loudly where the directory cannot be made', async () => {
  const dir = await tempDir('run-files-blocked');
  await writeFile(path.join(dir, 'runs'), 'a file where the runs root should be');

  const files = RunFiles.of(path.join(dir, 'runs', 'machine'), 'r.run-1');
  await expect(files.claim()).rejects.toMatchObject({ code: 'ENOTDIR' });
});

test('JSON files are read back as written, replaced whole, and leave no partial file behind', async () => {
  const files = RunFiles.of(await tempDir('run-files-json'), 'r.run-1');
  await files.claim();
  const exit: RunExit = { end: 'exited', exitCode: 3, signal: null, endedAt: 1_700_000_000_000, tail: ['last line'] };

  await files.writeJson(files.exit, { end: 'timeout' });
  await files.writeJson(files.exit, exit);

  expect(await files.readJson<RunExit>(files.exit)).toEqual(exit);
  expect(await readdir(files.dir)).toEqual(['exit.json']);
});

test('a missing JSON file reads as absent, not as an error', async () => {
  const files = RunFiles.of(await tempDir('run-files-absent'), 'r.run-1');
  await files.claim();

  expect(await files.readJson(files.exit)).toBeUndefined();
});

test('a reader never sees a half-written JSON file, however often it is rewritten', async () => {
  const files = RunFiles.of(await tempDir('run-files-atomic'), 'r.run-1');
  await files.claim();
  const big = (version: number) => ({
    version,
    tail: Array.from({ length: 5_000 }, (_, i) => `line ${i} of ${version}`),
  });
  await files.writeJson(files.progress, big(0));
  let writing = true;

  const writer = (async () => {
    for (let version = 1; version <= 100; version++) await files.writeJson(files.progress, big(version));
    writing = false;
  })();
  const seen: number[] = [];
  while (writing) {
    const read = await files.readJson<{ version: number; tail: string[] }>(files.progress);
    expect(read?.tail).toHaveLength(5_000);
    seen.push(read!.version);
  }
  await writer;

  expect(seen.length).toBeGreaterThan(0);
  expect(await files.readJson(files.progress)).toEqual(big(100));
});

test('writes of one file that overlap (a slow one overtaken, as progress writes are) each land whole', async () => {
  const files = RunFiles.of(await tempDir('run-files-overlap'), 'r.run-1');
  await files.claim();
  const big = (version: number) => ({ version, tail: Array.from({ length: 5_000 }, (_, i) => `${i} of ${version}`) });
  let writing = true;
  const writes = Promise.all(Array.from({ length: 30 }, (_, version) => files.writeJson(files.progress, big(version))));
  const done = writes.finally(() => (writing = false));
  while (writing) {
    const read = await files.readJson<{ version: number; tail: string[] }>(files.progress);
    if (read) expect(read).toEqual(big(read.version));
  }
  await done;
  const last = await files.readJson<{ version: number }>(files.progress);
  expect(last).toEqual(big(last!.version));
  expect((await readdir(files.dir)).filter((name) => name.endsWith('.partial'))).toEqual([]);
});

test('the lease is renewed as of the given moment, created on first renewal, and absent before it', async () => {
  const files = RunFiles.of(await tempDir('run-files-lease'), 'r.run-1');
  await files.claim();
  expect(await files.leaseRenewedAt()).toBeUndefined();

  const first = Date.now() - 60_000;
  await files.renewLease(first);
  expect(Math.abs((await files.leaseRenewedAt())! - first)).toBeLessThan(1_000);
  expect((await stat(files.lease)).size).toBe(0);

  const second = Date.now();
  await files.renewLease(second);
  expect(Math.abs((await files.leaseRenewedAt())! - second)).toBeLessThan(1_000);
});
