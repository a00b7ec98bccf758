/**
 * A machine that sleeps: its wall clock jumps on waking, its monotonic clock does not. libfaketime (Debian's
 * `faketime`) makes exactly that happen to a real keeper: FAKETIME_DONT_FAKE_MONOTONIC=1 and a wall-clock
 * offset the test changes while the keeper runs. The keeper must count its lease in awake time only.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pidAlive } from '../helpers/processes.js';
import { startKeptRun, stopKeptRuns, type KeptRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';

/** Where Debian puts libfaketime (`apt-get install faketime`), for any architecture. */
function libfaketime(): string | undefined {
  for (const arch of readdirSync('/usr/lib').filter((entry) => entry.includes('-linux-'))) {
    const lib = path.join('/usr/lib', arch, 'faketime', 'libfaketime.so.1');
    if (existsSync(lib)) return lib;
  }
  return undefined;
}

const LIB = libfaketime();
if (!LIB) console.warn('keeper-sleep.system.test.ts skipped: no libfaketime (apt-get install faketime)');
const WINDOW_MS = 4_000;

const kept: KeptRun[] = [];
afterEach(async () => {
  await stopKeptRuns(kept.splice(0));
});

(LIB ? test : test.skip)(
  'a keeper whose machine slept for 2 h past its 4-s window keeps its run; it stops it once the lease has ' +
    'aged 4 s of awake time, and says why',
  async () => {
    const dir = await tempDir('keeper-sleep');
    const offsetFile = path.join(dir, 'faketime');
    await writeFile(offsetFile, '+0');
    const run = await startKeptRun(
      path.join(dir, 'runs'),
      'sleep.run-1',
      'sleep 300',
      { leaseTimeoutMs: WINDOW_MS },
      {
        LD_PRELOAD: LIB!,
        FAKETIME_TIMESTAMP_FILE: offsetFile,
        FAKETIME_NO_CACHE: '1',
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
      },
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
  60_000,
);
