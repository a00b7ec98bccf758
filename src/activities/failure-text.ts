/**
 * The tail of a failed run's output as its failure shows it: the failure is kept in the batch state (one per failed
 * experiment, in every query answer and continue-as-new) and printed, so it is bounded per line and in total.
 */

/** Characters of a tail line kept at each of its ends. */
const SHOWN_LINE_END_CHARS = 240;
/** Characters of the tail kept in all (its last lines, whole): 20 lines of ~580 characters made ~12 KB. */
export const SHOWN_TAIL_CHARS = 4_000;

/** A line of the failure's tail, its middle left out when long (a dump on one line): its start and end say most. */
export function shownLine(line: string): string {
  if (line.length <= 2 * SHOWN_LINE_END_CHARS + 100) return line;
  const left = line.length - 2 * SHOWN_LINE_END_CHARS;
  return `${line.slice(0, SHOWN_LINE_END_CHARS)} [… ${left} characters …] ${line.slice(-SHOWN_LINE_END_CHARS)}`;
}

/** A failed run's message: what happened and its log on the first line, the log's path nowhere else; then its tail. */
export function failureMessage(headline: string, logFile: string, tail: readonly string[]): string {
  return `${headline}; log: ${logFile}\n${shownTail(tail).join('\n')}`;
}

/**
 * The tail's last lines that fit in SHOWN_TAIL_CHARS, each shown by `shownLine`; the earlier ones are counted in a
 * first line. It names no log: the failure's first line does (`failureMessage`).
 */
export function shownTail(tail: readonly string[]): string[] {
  const lines = tail.map(shownLine);
  let kept = 0;
  let chars = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const next = chars + lines[i].length + 1; // its line break
    if (next > SHOWN_TAIL_CHARS && kept > 0) break;
    chars = next;
    kept++;
  }
  const left = lines.slice(0, lines.length - kept);
  if (!left.length) return lines;
  const leftChars = left.reduce((sum, line) => sum + line.length + 1, 0);
  // Of the tail's lines, not the log's: the keeper keeps only its last ones, and the log may hold many more.
  const note = `[… ${left.length} of the last ${lines.length} lines (${leftChars} characters) left out]`;
  return [note, ...lines.slice(-kept)];
}
