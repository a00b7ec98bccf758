/**
 * A worker's standby keeper: started ahead, it takes one run with that run's environment, and never
 * holds the worker's credentials.
 */
import { readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { KEEPER_SCRIPT, KeeperLauncher, keeperAlive } from '../../src/activities/keeper-launch.js';
import { exitOf, launchRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';
import { until, waitUntilDead } from '../helpers/processes.js';

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
