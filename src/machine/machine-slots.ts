/**
 * `--slots` counts processes on the machine, adopted runs included: a worker restarted beside three
 * runs it adopts must not start three more. Starts of one worker are serialized through `claim`.
 */
import { stat } from 'node:fs/promises';
import { machineRuns, type RunsDirs } from './machine-runs.js';

/** A run directory younger than this without a keeper is being started. */
const STARTING_MS = 10_000;

export class MachineSlots {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly runsDirs: RunsDirs,
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
    let live = 0;
    for await (const run of machineRuns(this.runsDirs)) {
      if (run.ended) continue;
      if (run.started ? run.kept : await isYoung(run.files.dir)) live++;
    }
    return live;
  }
}

async function isYoung(dir: string): Promise<boolean> {
  const info = await stat(dir).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs < STARTING_MS;
}
