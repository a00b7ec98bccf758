/**
 * A run's guard (keeper/guard.go): no process of a run outlives its keeper unnoticed. A keeper SIGKILLed with no
 * worker to notice (kill -9, the OOM killer) leaves nothing running, and its run's end record says why; a guard
 * SIGKILLed alone changes nothing, and another takes its place. Real keepers (the built binary), real processes.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FrozenRecord } from '../../src/keeper/run-files.js';
import { tempDir } from '../helpers/scripts.js';
import { GONE_WITHIN_MS, LOAD_MARGIN_MS, pidAlive, until, waitUntilDead } from '../helpers/processes.js';
import { guardOf, startKeptRun } from '../helpers/runs.js';

const KILL_GRACE_MS = 1_000;

/** A run whose script leaves a daemon in a session of its own, then waits for `_release`. */
async function startGuardedRun(name: string) {
  const dir = await tempDir(`keeper-guard-${name}`);
  const script = [
    `setsid sh -c 'echo $$ > "${dir}/_daemon"; exec sleep 300' &`,
    `while [ ! -s "${dir}/_daemon" ]; do sleep 0.05; done`,
    `while [ ! -e "${dir}/_release" ]; do sleep 0.05; done`,
  ].join('\n');
  const run = await startKeptRun(path.join(dir, 'runs'), `run-${name}`, script, { killGraceMs: KILL_GRACE_MS });
  await until(
    async () => (await readFile(path.join(dir, '_daemon'), 'utf8').catch(() => '')) !== '',
    20_000,
    'the daemon',
  );
  const started = (await run.files.readJson<{ pid: number }>(run.files.state))!;
  const daemon = Number((await readFile(path.join(dir, '_daemon'), 'utf8')).trim());
  let guard: number | undefined;
  await until(() => (guard = guardOf(run.keeperPid)) !== undefined, 20_000, 'the run to have a guard');
  return {
    ...run,
    pids: [started.pid, daemon],
    guard: guard!,
    release: () => writeFile(path.join(dir, '_release'), ''),
  };
}

test.each([
  ['running', false],
  ['frozen (paused)', true],
])(
  'a keeper SIGKILLed while its run is %s leaves no process of the run, and its guard records why',
  async (_, frozen) => {
    const run = await startGuardedRun(frozen ? 'killed-frozen' : 'killed');
    if (frozen) {
      await writeFile(run.files.freezeRequest, '');
      await until(
        async () => (await run.files.readJson<FrozenRecord>(run.files.frozen))?.since != null,
        20_000,
        'the run to be frozen',
      );
    }
    process.kill(run.keeperPid, 'SIGKILL');
    const goneAfter = await waitUntilDead(run.pids, KILL_GRACE_MS + GONE_WITHIN_MS + LOAD_MARGIN_MS);
    console.log(
      `[figure] keeper SIGKILLed (${frozen ? 'frozen' : 'running'}): its run's processes gone ${goneAfter} ms after`,
    );

    expect(goneAfter).toBeDefined();
    expect(await run.exit()).toMatchObject({
      end: 'abandoned',
      // The script and its daemon, and the script's sleep of the moment if any.
      error: expect.stringMatching(
        /^its keeper died without recording an end; its guard stopped the run \([23] processes left\)$/,
      ),
    });
    expect(await readFile(run.files.keeperLog, 'utf8')).toContain('its guard stopped the run');
    await until(() => !pidAlive(run.guard), 10_000, 'the guard to exit');
  },
);

test('a guard SIGKILLed alone changes nothing: the run goes on to its own end, under a new guard', async () => {
  const run = await startGuardedRun('guard-killed');
  process.kill(run.guard, 'SIGKILL');
  let next: number | undefined;
  await until(() => (next = guardOf(run.keeperPid)) !== undefined && next !== run.guard, 10_000, 'a new guard');

  expect(run.pids.map(pidAlive)).toEqual([true, true]);
  expect(await run.files.readJson(run.files.exit)).toBeUndefined();
  await run.release();
  expect(await run.exit()).toMatchObject({ end: 'exited', exitCode: 0 });
  expect(await waitUntilDead([...run.pids, next!], GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  expect(await readFile(run.files.keeperLog, 'utf8')).toContain(`the run's guard (pid ${run.guard}) ended`);
});
