/**
 * Where a followed batch is shown. On a terminal the status block is redrawn in place under the
 * event lines (log-update); elsewhere (CI, pipes, files) it is printed as plain lines at an interval.
 */
import { createLogUpdate } from 'log-update';
import { commandHint } from '../invocation.js';

export interface Display {
  /** Redraws the status block on every poll when true; prints it every status interval when false. */
  readonly live: boolean;
  /** A line that stays: an event, a note, the summary. */
  line(text: string): void;
  status(lines: string[]): void;
  /** Takes the status block off the screen and stops redrawing. */
  close(): void;
}

function plainDisplay(write: (text: string) => void): Display {
  return {
    live: false,
    line: write,
    status: (lines) => lines.forEach((text) => write(text)),
    close: () => undefined,
  };
}

function liveDisplay(stream: NodeJS.WriteStream = process.stdout): Display {
  const redraw = createLogUpdate(stream, { showCursor: true });
  let block = '';
  return {
    live: true,
    line(text) {
      redraw.clear();
      stream.write(`${text}\n`);
      if (block) redraw(block);
    },
    status(lines) {
      block = fitToScreen(lines, stream.rows).join('\n');
      redraw(block);
    },
    close() {
      redraw.clear();
      redraw.done();
      block = '';
    },
  };
}

/** A block taller than the terminal cannot be redrawn in place; the rest is counted instead. */
export function fitToScreen(lines: string[], rows: number | undefined): string[] {
  const room = Math.max(3, (rows ?? 24) - 2);
  if (lines.length <= room) return lines;
  return [
    ...lines.slice(0, room - 1),
    `    … and ${lines.length - room + 1} more (${commandHint('status', ['<batchId>'])} lists all)`,
  ];
}

/** A live view on a terminal, plain lines otherwise; `quiet` shows nothing (submit --json). */
export function displayFor(stream: NodeJS.WriteStream, quiet = false): Display {
  if (quiet) return plainDisplay(() => undefined);
  // A pseudo-terminal without a size (rows 0) cannot be redrawn in: log-update would print nothing.
  return stream.isTTY && stream.rows > 0 ? liveDisplay(stream) : plainDisplay((text) => stream.write(`${text}\n`));
}
