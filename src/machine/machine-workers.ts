/**
 * The live workers of this machine, by the runs directory they count: each worker writes a record under the runs
 * root (`<runs root>/@workers/<pid>-<start ticks>.json`, removed when it stops) so that a worker starting beside
 * another one that counts the same runs can say so: every run alive there counts against both workers' `--slots`
 * (capacity.ts), so the second adds no capacity unless its `--slots` is larger.
 */
import { unlinkSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ProcessIdentity } from '../keeper/run-files.js';
import { ownProcessIdentity, stillRunning } from '../keeper/process-identity.js';

interface WorkerRecord {
  worker: ProcessIdentity;
  /** The runs directory whose runs it counts against its slots (`layout.own`). */
  runsDir: string;
  slots: number;
  /** The directories it runs scripts in (`--allow-dir`); absent in a record of a staged before it said them. */
  serves?: string[];
}

/** Another live worker counting the same runs directory. */
export interface MachineWorker {
  pid: number;
  slots: number;
  /** Its `--allow-dir` directories; undefined when its record does not say them. */
  serves?: readonly string[];
}

function recordsDir(runsRoot: string): string {
  return path.join(runsRoot, '@workers'); // `@` is %-encoded in a queue's directory name: never a queue's
}

/** The other live workers whose records name `runsDir`; a record of a process that is gone is removed. */
export async function otherLiveWorkers(runsRoot: string, runsDir: string): Promise<MachineWorker[]> {
  const dir = recordsDir(runsRoot);
  const names = await readdir(dir).catch(() => [] as string[]);
  const found: MachineWorker[] = [];
  for (const name of names.filter((file) => file.endsWith('.json'))) {
    const file = path.join(dir, name);
    const record = await readFile(file, 'utf8').then(parseRecord, () => undefined);
    if (!record?.worker || record.worker.pid === process.pid) continue;
    // Named by pid and start time: a file of a process that is gone is never a later process's
    if (!stillRunning(record.worker)) await rm(file, { force: true });
    else if (record.runsDir === runsDir)
      found.push({ pid: record.worker.pid, slots: record.slots, serves: record.serves });
  }
  return found.sort((a, b) => a.pid - b.pid);
}

/** A record, or undefined for one that is not whole (written by a staged before records were renamed into place). */
function parseRecord(text: string): WorkerRecord | undefined {
  try {
    return JSON.parse(text) as WorkerRecord;
  } catch {
    return undefined;
  }
}

/** Records this worker process; `stop()` removes the record (a SIGKILLed worker's is removed by the next reader). */
export async function recordWorker(
  runsRoot: string,
  runsDir: string,
  slots: number,
  serves: readonly string[] = [],
): Promise<{ stop(): void }> {
  const worker = ownProcessIdentity();
  if (!worker) return { stop: () => undefined };
  const dir = recordsDir(runsRoot);
  const file = path.join(dir, `${worker.pid}-${worker.startTicks}.json`);
  await mkdir(dir, { recursive: true });
  // Whole or not at all: a worker starting at the same moment reads it (not `.json` until renamed).
  await writeFile(
    `${file}.partial`,
    JSON.stringify({ worker, runsDir, slots, serves: [...serves] } satisfies WorkerRecord),
  );
  await rename(`${file}.partial`, file);
  return {
    stop: () => {
      try {
        unlinkSync(file);
      } catch {
        // already removed
      }
    },
  };
}

/** How often a worker looks again for other live workers counting its runs (a cheap read of a small directory). */
const WORKERS_EVERY_MS = 10_000;

/**
 * Calls `onChange` with the other live workers counting `runsDir` each time their set changes from `known` (one
 * started beside this worker, or stopped): a worker started first says so too, in its log, once a second one runs.
 */
export function watchMachineWorkers(
  runsRoot: string,
  runsDir: string,
  known: readonly MachineWorker[],
  onChange: (others: MachineWorker[]) => void,
): { stop(): void } {
  let pids = known.map((worker) => worker.pid).join(',');
  const timer = setInterval(() => {
    void otherLiveWorkers(runsRoot, runsDir)
      .then((others) => {
        const now = others.map((worker) => worker.pid).join(',');
        if (now === pids) return;
        pids = now;
        onChange(others);
      })
      .catch(() => undefined); // the next read may work
  }, WORKERS_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
