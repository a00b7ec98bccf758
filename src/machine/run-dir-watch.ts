/**
 * Wakes the worker's hold on a run as soon as its keeper records a start or an end (inotify), so a
 * slot is refilled within milliseconds of the process exiting instead of at the next poll.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** Files whose appearance ends a wait: the keeper renames each into place when it is complete. */
const WAKING_FILES = new Set(['state.json', 'exit.json']);

export interface RunDirWatch {
  /** Resolves after `ms`, or earlier when the keeper records a start or an end, or `signal` aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void>;
  close(): void;
}

/** Polling alone where the directory cannot be watched (gone, or no inotify): the waits just run their length. */
export function watchRunDir(dir: string): RunDirWatch {
  let wake: (() => void) | undefined;
  let recorded = false;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, (_event, file) => {
      if (!file || !WAKING_FILES.has(path.basename(file.toString()))) return;
      recorded = true;
      wake?.();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined;
  }
  return {
    async wait(ms, signal) {
      if (recorded) {
        recorded = false;
        return;
      }
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const timer = new AbortController();
      const stopTimer = () => timer.abort();
      signal.addEventListener('abort', stopTimer, { once: true });
      try {
        await Promise.race([woken, delay(ms, undefined, { signal: timer.signal }).catch(() => undefined)]);
      } finally {
        wake = undefined;
        recorded = false;
        timer.abort();
        signal.removeEventListener('abort', stopTimer);
      }
    },
    close() {
      watcher?.close();
    },
  };
}
