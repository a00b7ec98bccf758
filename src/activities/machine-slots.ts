/**
 * `--slots` counts processes on the machine, adopted runs included: a worker restarted beside three
 * runs it adopts must not start three more. Starts of one worker are serialized through `claim`.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { RunFiles, type RunStarted } from '../keeper/run-files.js';
import { keeperAlive } from './keeper-launch.js';

/** A run directory younger than this without a keeper is being started. */
const STARTING_MS = 10_000;

export class MachineSlots {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly runsDir: string,
    private readonly slots: number,
  ) {}

  /** Runs `claim` once fewer than `slots` runs live here; `wait` is called between checks. */
  claimWhenFree<T>(claim: () => Promise<T>, wait: () => Promise<void>): Promise<T> {
    const turn = this.queue.then(async () => {
      while ((await this.liveRuns()) >= this.slots) await wait();
      return claim();
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  async liveRuns(): Promise<number> {
    const entries = await readdir(this.runsDir).catch(() => [] as string[]);
    let live = 0;
    for (const entry of entries) {
      const files = new RunFiles(path.join(this.runsDir, entry));
      if (await files.readJson(files.exit)) continue;
      const started = await files.readJson<RunStarted>(files.state);
      if (started ? keeperAlive(started.keeperPid, files) : await isYoung(files.dir)) live++;
    }
    return live;
  }
}

async function isYoung(dir: string): Promise<boolean> {
  const info = await stat(dir).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs < STARTING_MS;
}
