/**
 * A run's log file with a size policy: the first `limitBytes` of output are kept; past that, only
 * the last lines are, appended at the end after a marker saying how much was dropped. The last
 * lines are always in memory too, for the failure message, so a flood never costs more than that.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { Writable } from 'node:stream';

const TAIL_BYTES = 64 * 1024;

export class AttemptLog extends Writable {
  private readonly file: WriteStream;
  private written = 0;
  private dropped = 0;
  private tail = Buffer.alloc(0);

  constructor(
    file: string,
    private readonly limitBytes: number,
  ) {
    super();
    this.file = createWriteStream(file);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.keepTail(chunk);
    const room = Math.max(0, this.limitBytes - this.written);
    const kept = chunk.subarray(0, room);
    this.dropped += chunk.length - kept.length;
    this.written += kept.length;
    if (!kept.length || this.file.write(kept)) done();
    else this.file.once('drain', () => done());
  }

  override _final(done: (error?: Error | null) => void): void {
    if (this.dropped) {
      const limitMiB = (this.limitBytes / 1024 / 1024).toFixed(1);
      this.file.write(
        `\n[staged] output passed the log limit of ${limitMiB} MiB: ${this.dropped} bytes were not kept; ` +
          `the last ${this.tail.length} bytes follow\n`,
      );
      this.file.write(this.tail);
    }
    this.file.end();
    once(this.file, 'finish').then(() => done(), done);
  }

  /** The last `count` lines of output, whatever the log file kept. */
  lastLines(count: number): string[] {
    const lines = this.tail.toString('utf8').split(/\r\n|\n|\r/);
    if (lines.at(-1) === '') lines.pop();
    if (this.written + this.dropped > this.tail.length) lines.shift(); // probably cut
    return lines.slice(-count);
  }

  private keepTail(chunk: Buffer): void {
    this.tail =
      chunk.length >= TAIL_BYTES
        ? Buffer.from(chunk.subarray(chunk.length - TAIL_BYTES))
        : Buffer.concat([this.tail.subarray(Math.max(0, this.tail.length + chunk.length - TAIL_BYTES)), chunk]);
  }
}
