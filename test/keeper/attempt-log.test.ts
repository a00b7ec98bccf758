/** A run's log file and its size policy, written to real files, from memory and from a real process. */
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AttemptLog } from '../../src/keeper/attempt-log.js';
import { tempDir } from '../helpers/scripts.js';

/** The tail the log keeps in memory, and appends when output passed the limit. */
const TAIL_BYTES = 64 * 1024;

/** `count` numbered lines of 12 bytes each: "line 000001\n"… */
function numberedLines(count: number): Buffer {
  return Buffer.from(Array.from({ length: count }, (_, i) => `line ${String(i + 1).padStart(6, '0')}\n`).join(''));
}

/** Writes `output` in chunks of uneven sizes, so that one chunk straddles the limit. */
async function writeLog(file: string, limitBytes: number, output: Buffer): Promise<AttemptLog> {
  const log = new AttemptLog(file, limitBytes);
  const chunks: Buffer[] = [];
  for (let at = 0, size = 1; at < output.length; at += size, size = ((size * 7) % 9_973) + 1) {
    chunks.push(output.subarray(at, at + size));
  }
  await pipeline(Readable.from(chunks), log);
  return log;
}

test('output up to the limit is kept whole, with no marker', async () => {
  const file = path.join(await tempDir('log-small'), 'attempt.log');
  const output = numberedLines(1_000);

  await writeLog(file, output.length, output);

  expect(await readFile(file)).toEqual(output);
});

test('past the limit: the bytes up to it, a marker saying how much was dropped, then the last 64 KiB', async () => {
  const file = path.join(await tempDir('log-over'), 'attempt.log');
  const output = numberedLines(25_000);
  const limitBytes = 100_000;

  await writeLog(file, limitBytes, output);

  const kept = await readFile(file);
  const marker =
    `\n[staged] output passed the log limit of 0.1 MiB: ${output.length - limitBytes} bytes were not kept; ` +
    `the last ${TAIL_BYTES} bytes follow\n`;
  expect(kept.subarray(0, limitBytes)).toEqual(output.subarray(0, limitBytes));
  expect(kept.subarray(limitBytes, limitBytes + marker.length).toString()).toBe(marker);
  expect(kept.subarray(limitBytes + marker.length)).toEqual(output.subarray(output.length - TAIL_BYTES));
});

test('the last lines are those of the output, whole, whatever the file kept', async () => {
  const file = path.join(await tempDir('log-lines'), 'attempt.log');

  const log = await writeLog(file, 10_000, numberedLines(25_000));

  expect(log.lastLines(3)).toEqual(['line 024998', 'line 024999', 'line 025000']);
  // The tail starts inside a line: that cut line is never given.
  expect(log.lastLines(100_000).every((line) => /^line \d{6}$/.test(line))).toBe(true);
});

test('short output gives all its lines, whichever line ending each has', async () => {
  const file = path.join(await tempDir('log-endings'), 'attempt.log');

  const log = await writeLog(file, 1024 * 1024, Buffer.from('first\r\nsecond\rthird\nlast without newline'));

  expect(log.lastLines(20)).toEqual(['first', 'second', 'third', 'last without newline']);
  expect(log.lastLines(2)).toEqual(['third', 'last without newline']);
});

test("a real process's flood of output costs the file no more than the limit and the tail", async () => {
  const file = path.join(await tempDir('log-flood'), 'attempt.log');
  const limitBytes = 1024 * 1024;
  const flood = spawn('/bin/sh', ['-c', 'yes 0123456789abcdef | head -c 17000000; echo the end'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const log = new AttemptLog(file, limitBytes);

  await pipeline(flood.stdout, log);

  const size = (await stat(file)).size;
  expect(size).toBeGreaterThan(limitBytes + TAIL_BYTES);
  expect(size).toBeLessThan(limitBytes + TAIL_BYTES + 1_000);
  expect(log.lastLines(1)).toEqual(['the end']);
  expect((await readFile(file, 'utf8')).endsWith('0123456789abcdef\nthe end\n')).toBe(true);
}, 30_000);
