/**
 * Which worker process holds a run: `holder.json` in its run directory, written each time a worker starts or adopts
 * it. A worker starting beside runs alive on its machine tells those another live worker holds from those left by an
 * earlier one: gone, or let go of them (its `left` mark is newer than its record).
 */
import { stat } from 'node:fs/promises';
import type { ProcessIdentity, RunFiles } from '../keeper/run-files.js';
import { ownProcessIdentity, stillRunning } from '../keeper/process-identity.js';

interface HolderRecord {
  worker: ProcessIdentity;
  /** When it took the run (epoch ms). */
  at: number;
}

/** Records this worker process as the run's holder; a record that cannot be written only leaves the run unnamed. */
export async function recordHolder(files: RunFiles): Promise<void> {
  const worker = ownProcessIdentity();
  if (!worker) return;
  await files.writeJson(files.holder, { worker, at: Date.now() } satisfies HolderRecord).catch(() => undefined);
}

/** The pid of the live worker process (not this one) holding the run; undefined when it was left or nobody holds it. */
export async function otherLiveHolderOf(files: RunFiles): Promise<number | undefined> {
  const record = await files.readJson<HolderRecord>(files.holder);
  if (!record?.worker || record.worker.pid === process.pid || !stillRunning(record.worker)) return undefined;
  const leftAt = await stat(files.leftMark).then(
    (info) => info.mtimeMs,
    () => undefined,
  );
  return leftAt !== undefined && leftAt >= record.at ? undefined : record.worker.pid;
}

/** True when this worker process was the run's last holder (it let go of the run, and now adopts it again). */
export async function heldBeforeHere(files: RunFiles): Promise<boolean> {
  const record = await files.readJson<HolderRecord>(files.holder);
  return record?.worker?.pid === process.pid;
}
