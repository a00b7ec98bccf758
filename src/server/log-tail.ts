/** The end of a log file, from where a process started writing to it: what to show when it exits. */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

const TAIL_BYTES = 4_096;
const TAIL_LINES = 20;

export function logSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The last lines written to `file` after byte `from`, trimmed; '' when none. */
export function logTail(file: string, from = 0): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = statSync(file).size;
    const start = Math.max(from, size - TAIL_BYTES);
    const buffer = Buffer.alloc(Math.max(0, size - start));
    readSync(fd, buffer, 0, buffer.length, start);
    return buffer.toString('utf8').trim().split('\n').slice(-TAIL_LINES).join('\n');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
