/**
 * A run's keeper: started by the worker in a session of its own with the run's environment (never the worker's
 * credentials), and recognised as alive by its record or, for a keeper from before the record, by its command line.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { KEEPER_BINARY, KeeperLauncher, keeperAlive, launchKeeper } from '../../src/machine/keeper-launch.js';
import { requestStop } from '../../src/machine/stop-run.js';
import { experimentEnvironment } from '../../src/machine/child-env.js';
import { RunFiles, type RunStarted } from '../../src/keeper/run-files.js';
import { exitOf, launchRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';
import { installCopy, until, waitUntilDead } from '../helpers/processes.js';

/** A run of `sh -c <script> [args]` in its own directory, logging beside it. */
function shSpec(files: RunFiles, runId: string, [script, ...args]: string[]) {
  return {
    runId,
    file: '/bin/sh',
    args: ['-c', script, ...args],
    cwd: files.dir,
    logFile: `${files.dir}/run.log`,
    logLimitBytes: 1024 * 1024,
    timeoutMs: null,
    killGraceMs: 1_000,
    leaseTimeoutMs: 60_000,
  };
}

/** Fields of /proc/<pid>/stat from the state on: [2] is the session id. */
const statOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
};

test("a keeper runs in a session of its own, with the run's environment and not the worker's credentials", async () => {
  const runsDir = await tempDir('keeper-launch-runs');
  const secret = `secret-${Date.now()}`;
  const launcher = new KeeperLauncher();
  launcher.open();
  const files = RunFiles.of(runsDir, 'launched.run-1');
  await files.claim();
  const env = experimentEnvironment({ PATH: process.env.PATH, TEMPORAL_API_KEY: secret }, { STAGED_ATTEMPT: '3' });
  const spec = shSpec(files, `launched-${Date.now()}`, [
    'echo "attempt=$STAGED_ATTEMPT key=$TEMPORAL_API_KEY"; sleep 1',
  ]);

  const keeperPid = (await launcher.launch(files, spec, env))!;
  launcher.close();

  expect(readFileSync(`/proc/${keeperPid}/cmdline`, 'utf8').split('\0')[0]).toBe(KEEPER_BINARY);
  expect(statOf(keeperPid)[3]).toBe(String(keeperPid)); // its own session: a worker's terminal never reaches it
  expect(readFileSync(`/proc/${keeperPid}/environ`, 'utf8')).not.toContain(secret);
  expect(keeperAlive(keeperPid, files)).toBe(true);
  const exit = await exitOf(files);
  expect(exit).toMatchObject({ end: 'exited', exitCode: 0 });
  expect(await readFile(spec.logFile, 'utf8')).toBe('attempt=3 key=\n');
  expect(await waitUntilDead([keeperPid], 10_000)).toBeDefined();
});

test('a keeper is recognised by its record, from any install; a reused pid is not taken for one', async () => {
  const runsDir = await tempDir('keeper-identity-runs');
  const copy = await installCopy();
  const other = await launchRun(runsDir, 'other.run-1', ['-c', 'sleep 60']);
  const files = RunFiles.of(runsDir, 'identity.run-1');
  await files.claim();
  await files.renewLease(Date.now());
  await files.writeJson(files.spec, { ...other.spec, runId: `identity-${Date.now()}`, cwd: files.dir });
  const keeper = spawn(copy.keeperBinary, [files.dir], { detached: true, stdio: 'ignore' });
  // As a keeper of staged before 2026-12 ran: `node …/keeper.js <run dir>`, with no record of who it is.
  const oldNodeKeeper = (dir: string) =>
    spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '/old/dist/src/keeper/keeper.js', dir], {
      stdio: 'ignore',
    });
  const legacy = oldNodeKeeper(files.dir);
  const legacyOfAnother = oldNodeKeeper(other.files.dir);
  const stateOf = async (run: RunFiles) => {
    await until(async () => (await run.readJson<RunStarted>(run.state)) !== undefined, 20_000, 'a keeper');
    return (await run.readJson<RunStarted>(run.state))!;
  };
  try {
    const state = await stateOf(files);
    const otherKeeper = (await stateOf(other.files)).keeper!;
    expect(state.keeper).toMatchObject({ pid: keeper.pid });
    expect(keeperAlive(keeper.pid!, files)).toBe(true);

    const recorded = (started: Partial<RunStarted>) => files.writeJson(files.state, { ...state, ...started });
    // A record of staged before 2026-12 (none): a keeper of any install whose arguments name the run.
    await recorded({ keeper: undefined });
    expect(keeperAlive(keeper.pid!, files)).toBe(true);
    expect(keeperAlive(legacy.pid!, files)).toBe(true);
    expect(keeperAlive(legacyOfAnother.pid!, files)).toBe(false);
    // The keeper's pid reused by a later process, here another run's keeper: its start time differs.
    await recorded({ keeperPid: otherKeeper.pid, keeper: { ...otherKeeper, startTicks: otherKeeper.startTicks - 1 } });
    expect(keeperAlive(otherKeeper.pid, files)).toBe(false);
    await recorded({ keeperPid: otherKeeper.pid, keeper: undefined });
    expect(keeperAlive(otherKeeper.pid, files)).toBe(false);
    await recorded({ keeperPid: process.pid, keeper: undefined });
    expect(keeperAlive(process.pid, files)).toBe(false);
  } finally {
    legacy.kill('SIGKILL');
    legacyOfAnother.kill('SIGKILL');
    await requestStop(files, keeper.pid, 'cancelled');
    await requestStop(other.files, other.keeperPid, 'cancelled');
    await Promise.all([exitOf(files), exitOf(other.files)]);
  }
}, 60_000);

const inodeOf = (file: string) => {
  try {
    return statSync(file).ino;
  } catch {
    return undefined;
  }
};

/** The launcher of a KeeperLauncher: its child named staged-launcher. */
function launcherPids(): number[] {
  const stat = (pid: string) => readFileSync(`/proc/${pid}/stat`, 'utf8');
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid))
    .filter((pid) => {
      try {
        const [state, parent] = statOf(Number(pid));
        return stat(pid).includes('(staged-launcher)') && parent === String(process.pid) && state !== 'Z';
      } catch {
        return false;
      }
    })
    .map(Number);
}

test('a launch in flight when its launcher dies is sent to the next launcher: its run starts, once', async () => {
  const runsDir = await tempDir('keeper-launch-lost');
  const counter = path.join(runsDir, 'starts');
  const launcher = new KeeperLauncher();
  launcher.open();
  const specOf = (files: RunFiles) =>
    shSpec(files, `lost-${path.basename(files.dir)}-${Date.now()}`, [
      `echo "$0" >> ${counter}; sleep 0.2`,
      path.basename(files.dir),
    ]);
  const env = { PATH: process.env.PATH! };
  const claimed = async (key: string) => {
    const files = RunFiles.of(runsDir, key);
    await files.claim();
    await files.renewLease(Date.now());
    return files;
  };
  try {
    // A: the launcher stopped, then killed, before it could read the request.
    await until(() => launcherPids().length === 1, 10_000, 'the launcher'); // named a moment after its start
    const [first] = launcherPids();
    process.kill(first, 'SIGSTOP');
    const unread = await claimed('unread.run-1');
    const unreadLaunch = launcher.launch(unread, specOf(unread), env);
    await until(() => inodeOf(unread.spec) !== undefined, 10_000, 'the request to be sent'); // sent once it is written
    process.kill(first, 'SIGKILL');
    expect(await unreadLaunch).toBeUndefined(); // its keeper is known by its record
    expect(await exitOf(unread)).toMatchObject({ end: 'exited', exitCode: 0 });

    // B: a keeper that did start (here started directly, as a launcher that died before its answer left it), and its
    // launch sent again to a launcher killed meanwhile: the second keeper of the run exits, touching nothing.
    const started = await claimed('started.run-1');
    const startedSpec = specOf(started);
    const keeperPid = await launchKeeper(started, startedSpec, env);
    await until(() => launcherPids().length === 1, 10_000, 'the next launcher');
    const [second] = launcherPids();
    expect(second).not.toBe(first);
    process.kill(second, 'SIGSTOP');
    const firstSpec = inodeOf(started.spec);
    const againLaunch = launcher.launch(started, startedSpec, env);
    await until(() => inodeOf(started.spec) !== firstSpec, 10_000, 'the request to be sent');
    process.kill(second, 'SIGKILL');
    expect(await againLaunch).toBeUndefined();
    expect(await exitOf(started)).toMatchObject({ end: 'exited', exitCode: 0 });
    expect((await started.readJson<RunStarted>(started.state))?.keeperPid).toBe(keeperPid);
    expect(await readFile(started.keeperLog, 'utf8')).toContain('the run has a keeper already; this one exits');

    // Every run started once.
    expect((await readFile(counter, 'utf8')).split('\n').filter(Boolean).sort()).toEqual([
      'started.run-1',
      'unread.run-1',
    ]);
    // And a launch after it all is answered with its keeper's pid by a third launcher.
    const later = await claimed('later.run-1');
    expect(await launcher.launch(later, specOf(later), env)).toEqual(expect.any(Number));
    expect(launcherPids()).not.toContain(second);
    expect(await exitOf(later)).toMatchObject({ end: 'exited', exitCode: 0 });
  } finally {
    launcher.close();
  }
}, 60_000);
