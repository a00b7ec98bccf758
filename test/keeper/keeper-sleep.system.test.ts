/**
 * A machine that sleeps: its wall clock jumps on waking, its monotonic clock does not. The keeper is built here
 * with `-tags wallclockjump` (keeper/wall_clock_jump.go), which adds the offset written in a file to its wall clock,
 * as libfaketime did for the Node keeper (a static Go binary does not read the C library's clock); everything else
 * is the real keeper. The test changes the offset while the keeper runs: the keeper must count its lease in awake
 * time only.
 */
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { pidAlive } from '../helpers/processes.js';
import { startKeptRun, stopKeptRuns, type KeptRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';

const KEEPER_SOURCE = fileURLToPath(new URL('../../../keeper/', import.meta.url));
const WINDOW_MS = 4_000;

const kept: KeptRun[] = [];
afterEach(async () => {
  await stopKeptRuns(kept.splice(0));
});

/** The keeper whose wall clock is the machine's plus the seconds in `offsetFile`. */
async function keeperWithJumpingWallClock(dir: string): Promise<string> {
  const binary = path.join(dir, 'staged-keeper');
  await execa('go', ['build', '-tags', 'wallclockjump', '-o', binary, '.'], {
    cwd: KEEPER_SOURCE,
    env: { GOTOOLCHAIN: 'local', CGO_ENABLED: '0' },
  });
  return binary;
}

test(
  'a keeper whose machine slept for 2 h past its 4-s window keeps its run; it stops it once the lease has ' +
    'aged 4 s of awake time, and says why',
  async () => {
    const dir = await tempDir('keeper-sleep');
    const binary = await keeperWithJumpingWallClock(dir);
    const offsetFile = path.join(dir, 'wall-offset');
    await writeFile(offsetFile, '+0');
    const run = await startKeptRun(
      path.join(dir, 'runs'),
      'sleep.run-1',
      'sleep 300',
      { leaseTimeoutMs: WINDOW_MS },
      { STAGED_KEEPER_WALL_OFFSET_FILE: offsetFile },
      binary,
    );
    kept.push(run);
    const renewFor = async (ms: number) => {
      for (const end = Date.now() + ms; Date.now() < end; await delay(250)) await run.files.renewLease(Date.now());
    };
    await renewFor(1_000);

    // The machine wakes after 2 hours: the keeper's wall clock jumps, its monotonic clock does not.
    await writeFile(offsetFile, '+7200');
    await renewFor(3_000); // the worker renews as it did before the sleep
    expect(await run.files.readJson(run.files.exit)).toBeUndefined();
    expect(pidAlive(run.keeperPid)).toBe(true);

    // Its worker gone now: the lease ages in awake time, and the run is stopped one window later.
    const lastRenewal = Date.now();
    const exit = await run.exit(WINDOW_MS + 10_000);
    const stoppedAfter = exit.endedAt - 7_200_000 - lastRenewal; // endedAt is on the keeper's (jumped) clock
    expect(exit.end).toBe('abandoned');
    expect(stoppedAfter).toBeGreaterThan(WINDOW_MS - 500);
    expect(await readFile(run.files.keeperLog, 'utf8')).toMatch(/of awake time ago \(wall clock: 72\d\d\.\d+s\)/);
    console.log(
      `[figure] after a 2-h jump of the wall clock: run kept; stopped ${stoppedAfter} ms after the last renewal`,
    );
  },
  120_000,
);
