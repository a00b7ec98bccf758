/**
 * Freezes or thaws a run where it lives (`pause`/`resume <batchId> <exp>…`): any worker of its machine writes or
 * removes the `freeze` request in the run's directory, and the run's keeper carries it out on its next check. The
 * request outlives this worker: a run adopted later stays frozen until a `resume` removes it.
 */
import { rm, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { FrozenRecord, RunExit, RunFiles } from '../keeper/run-files.js';
import type { RunPauseAnswer } from '../model/run-pause.js';

/** A keeper checks its run's directory four times a second: past this, it is busy or gone, and the request waits. */
const KEEPER_ANSWERS_WITHIN_MS = 10_000;
const POLL_MS = 50;

export async function freezeRun(files: RunFiles, freeze: boolean): Promise<RunPauseAnswer> {
  const ended = { pausedSince: null, ended: true };
  if (!(await files.exists()) || (await files.readJson<RunExit>(files.exit))) return ended;
  // A keeper started by a staged before `pause <exp>` writes no frozen.json and would never freeze the run.
  if (freeze && !(await files.readJson<FrozenRecord>(files.frozen))) return { pausedSince: null, ended: false };
  const askedAt = Date.now();
  if (freeze) await writeFile(files.freezeRequest, String(askedAt));
  else await rm(files.freezeRequest, { force: true });
  for (;;) {
    if (await files.readJson<RunExit>(files.exit)) return ended;
    const since = (await files.readJson<FrozenRecord>(files.frozen))?.since ?? null;
    if ((since !== null) === freeze) return { pausedSince: since, ended: false };
    // Its keeper has not answered yet: the request stands, and is shown as applied from when it was made.
    if (Date.now() - askedAt > KEEPER_ANSWERS_WITHIN_MS) return { pausedSince: freeze ? askedAt : null, ended: false };
    await delay(POLL_MS);
  }
}
