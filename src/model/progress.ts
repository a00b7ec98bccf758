/**
 * Progress read from an experiment's output, with no change to most scripts:
 *   - the line protocol `PROGRESS 42%` or `PROGRESS 42/100` at the start of a line, optionally
 *     followed by a space and any text (stdout or stderr);
 *   - tqdm-style bars redrawn with carriage returns: ` 42%|████      | 42/100 [00:10<00:14, 4.1it/s]`.
 */

export interface Progress {
  /** 0–100. */
  percent: number;
  /** Units done and in all, when the output said so (`42/100`). */
  done?: number;
  total?: number;
}

/** A run's first progress report and when it came: the rate since then gives its ETA (it may start part-way). */
export interface ProgressMark {
  percent: number;
  at: number;
}

const PROTOCOL_PERCENT = /^\s*PROGRESS[:\s]+(\d+(?:\.\d+)?)\s*%(?:\s.*)?$/;
const PROTOCOL_FRACTION = /^\s*PROGRESS[:\s]+(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)(?:\s.*)?$/;
const TQDM_BAR = /(\d{1,3})%\|[^|]*\|\s*(\d+(?:\.\d+)?)([kMG]?)\/(\d+(?:\.\d+)?)([kMG]?)\s*\[/;
const TQDM_PERCENT_ONLY = /(\d{1,3})%\|[^|]*\|/;
const UNIT_SCALE: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9 };

function clampPercent(value: number): number {
  return Math.min(100, Math.max(0, Math.round(value * 10) / 10));
}

function fromFraction(done: number, total: number): Progress | undefined {
  if (!(total > 0)) return undefined;
  return { percent: clampPercent((done / total) * 100), done, total };
}

/** One complete line (or one carriage-return frame) of output; undefined when it says nothing of progress. */
export function parseProgressLine(line: string): Progress | undefined {
  if (!line.includes('PROGRESS') && !line.includes('%|')) return undefined;
  const percent = PROTOCOL_PERCENT.exec(line);
  if (percent) return { percent: clampPercent(Number(percent[1])) };
  const fraction = PROTOCOL_FRACTION.exec(line);
  if (fraction) return fromFraction(Number(fraction[1]), Number(fraction[2]));
  const bar = TQDM_BAR.exec(line);
  if (bar) {
    const done = Number(bar[2]) * UNIT_SCALE[bar[3]];
    const total = Number(bar[4]) * UNIT_SCALE[bar[5]];
    return { percent: clampPercent(Number(bar[1])), done, total };
  }
  const barPercent = TQDM_PERCENT_ONLY.exec(line);
  if (barPercent) return { percent: clampPercent(Number(barPercent[1])) };
  return undefined;
}

/** Longest unterminated line kept; past it the fragment is dropped, so a flood costs nothing. */
const MAX_FRAGMENT = 4096;

/**
 * Reads progress from a stream of output chunks. Lines end with `\n` or `\r` (tqdm redraws with
 * `\r`); an unterminated tqdm frame is read at once, since tqdm leaves its latest frame open.
 */
export class ProgressReader {
  private fragment = '';
  private latest: Progress | undefined;

  get progress(): Progress | undefined {
    return this.latest;
  }

  /** Returns true when the progress changed. */
  feed(chunk: string): boolean {
    const before = this.latest;
    const pieces = (this.fragment + chunk).split(/\r\n|\n|\r/);
    this.fragment = pieces.pop() ?? '';
    if (this.fragment.length > MAX_FRAGMENT) this.fragment = '';
    for (const line of pieces) this.take(parseProgressLine(line));
    if (TQDM_PERCENT_ONLY.test(this.fragment)) this.take(parseProgressLine(this.fragment));
    return !sameProgress(before, this.latest);
  }

  private take(progress: Progress | undefined): void {
    if (progress) this.latest = progress;
  }
}

function sameProgress(a: Progress | undefined, b: Progress | undefined): boolean {
  return a?.percent === b?.percent && a?.done === b?.done && a?.total === b?.total;
}
