/**
 * A worker's standby keeper: started ahead, it takes one run with that run's environment, and never
 * holds the worker's credentials.
 */
import { readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { KEEPER_SCRIPT, KeeperLauncher, keeperAlive } from '../../src/machine/keeper-launch.js';
import { spawn } from 'node:child_process';
import { requestStop } from '../../src/machine/stop-run.js';
import { RunFiles, type RunStarted } from '../../src/keeper/run-files.js';
import { exitOf, launchRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';
import { installCopy, until, waitUntilDead } from '../helpers/processes.js';

/** Standby keepers waiting for a run of `runsDir`'s worker, found in /proc as an administrator would. */
function standbyKeepers(runsDir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return (
          cmdline.includes(KEEPER_SCRIPT) &&
          cmdline.includes('--standby') &&
          readlinkSync(`/proc/${pid}/cwd`) === `${runsDir}.standby`
        );
      } catch {
        return false;
      }
    });
}

test(
  'a standby keeper takes a run with its environment, lives in its directory, and the next one waits without the ' +
    "worker's credentials",
  async () => {
    const runsDir = await tempDir('standby-runs');
    const secret = `secret-${Date.now()}`;
    process.env.TEMPORAL_API_KEY = secret;
    const launcher = new KeeperLauncher(runsDir);
    try {
      await launcher.open();
    } finally {
      delete process.env.TEMPORAL_API_KEY;
    }
    await until(() => standbyKeepers(runsDir).length === 1, 20_000, 'the standby keeper to start');
    const [standby] = standbyKeepers(runsDir);

    const { files, spec, keeperPid } = await launchRun(
      runsDir,
      'standby-test.run-1',
      ['-c', 'echo "attempt=$STAGED_ATTEMPT"; sleep 1'],
      { env: { STAGED_ATTEMPT: '3' }, launcher },
    );
    expect(keeperPid).toBe(standby);
    await until(() => readlinkSync(`/proc/${keeperPid}/cwd`) === files.dir, 20_000, 'the keeper to take the run');
    expect(keeperAlive(keeperPid, files)).toBe(true);

    const exit = await exitOf(files);
    expect(exit).toMatchObject({ end: 'exited', exitCode: 0 });
    expect(await readFile(spec.logFile, 'utf8')).toContain('attempt=3');

    await until(() => standbyKeepers(runsDir).length === 1, 20_000, 'the next standby keeper');
    const [next] = standbyKeepers(runsDir);
    expect(next).not.toBe(standby);
    expect(readFileSync(`/proc/${next}/environ`, 'utf8')).not.toContain(secret);

    launcher.close();
    expect(await waitUntilDead([next], 10_000)).toBeDefined();
  },
  60_000,
);

test('a keeper is recognised by its record, from any install; a reused pid is not taken for one', async () => {
  const runsDir = await tempDir('keeper-identity-runs');
  const copy = await installCopy();
  const other = await launchRun(runsDir, 'other.run-1', ['-c', 'sleep 60']);
  const files = RunFiles.of(runsDir, 'identity.run-1');
  await files.claim();
  await files.renewLease(Date.now());
  await files.writeJson(files.spec, { ...other.spec, runId: `identity-${Date.now()}`, cwd: files.dir });
  const keeper = spawn(process.execPath, [copy.keeperScript, files.dir], { detached: true, stdio: 'ignore' });
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
    // A record of staged before 2026-12 (none): a keeper.js of any install whose arguments name the run.
    await recorded({ keeper: undefined });
    expect(keeperAlive(keeper.pid!, files)).toBe(true);
    // The keeper's pid reused by a later process, here another run's keeper: its start time differs.
    await recorded({ keeperPid: otherKeeper.pid, keeper: { ...otherKeeper, startTicks: otherKeeper.startTicks - 1 } });
    expect(keeperAlive(otherKeeper.pid, files)).toBe(false);
    await recorded({ keeperPid: otherKeeper.pid, keeper: undefined });
    expect(keeperAlive(otherKeeper.pid, files)).toBe(false);
    await recorded({ keeperPid: process.pid, keeper: undefined });
    expect(keeperAlive(process.pid, files)).toBe(false);
  } finally {
    await requestStop(files, keeper.pid, 'cancelled');
    await requestStop(other.files, other.keeperPid, 'cancelled');
    await Promise.all([exitOf(files), exitOf(other.files)]);
  }
}, 60_000);
