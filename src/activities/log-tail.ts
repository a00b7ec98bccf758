/** Reads the last lines of a log file without loading all of it. */
import { open } from 'node:fs/promises';

const TAIL_BYTES = 64 * 1024;

export async function lastLines(file: string, count: number): Promise<string[]> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split(/\r\n|\n|\r/);
    if (lines.at(-1) === '') lines.pop();
    if (length < size) lines.shift(); // the first line is probably cut
    return lines.slice(-count);
  } finally {
    await handle.close();
  }
}
