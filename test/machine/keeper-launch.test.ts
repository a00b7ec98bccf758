/**
 * A run's keeper: started by the worker in a session of its own with the run's environment (never the worker's
 * credentials), and recognised as alive by its record or, for a keeper from before the record, by its command line.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { KEEPER_BINARY, KeeperLauncher, keeperAlive } from '../../src/machine/keeper-launch.js';
import { requestStop } from '../../src/machine/stop-run.js';
import { experimentEnvironment } from '../../src/machine/child-env.js';
import { RunFiles, type RunStarted } from '../../src/keeper/run-files.js';
import { exitOf, launchRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';
import { installCopy, until, waitUntilDead } from '../helpers/processes.js';

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
  const spec = {
    runId: `launched-${Date.now()}`,
    file: '/bin/sh',
    args: ['-c', 'echo "attempt=$STAGED_ATTEMPT key=$TEMPORAL_API_KEY"; sleep 1'],
    cwd: files.dir,
    logFile: `${files.dir}/run.log`,
    logLimitBytes: 1024 * 1024,
    timeoutMs: null,
    killGraceMs: 1_000,
    leaseTimeoutMs: 60_000,
  };

  const keeperPid = await launcher.launch(files, spec, env);

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
