/** A failed run's output tail as its failure shows it: bounded per line and in total, its last lines whole. */
import { failureMessage, SHOWN_TAIL_CHARS, shownLine, shownTail } from '../../src/activities/failure-text.js';

const LOG = '/w/.staged/logs/batch-1/exp1/attempt-1.log';

test('a short tail is shown whole, with nothing said', () => {
  const tail = ['Traceback (most recent call last):', 'ValueError: bad input'];
  expect(shownTail(tail)).toEqual(tail);
  expect(shownTail([])).toEqual([]);
});

test('20 lines of 580 characters (~12 KB) keep their last whole lines within the bound, the others counted', () => {
  const tail = Array.from({ length: 20 }, (_, i) => `line ${String(i).padStart(2, '0')} ${'x'.repeat(572)}`);
  expect(tail.every((line) => shownLine(line) === line)).toBe(true); // each under the per-line bound: whole
  const shown = shownTail(tail);
  const text = shown.join('\n');
  expect(tail.join('\n').length).toBe(11_619);
  expect(text.length).toBeLessThan(SHOWN_TAIL_CHARS + 200);
  const [note, ...lines] = shown;
  expect(lines).toEqual(tail.slice(-lines.length)); // the last ones, each whole
  expect(lines.length).toBe(6);
  expect(note).toBe('[… 14 of the last 20 lines (8134 characters) left out]');
});

test('the bound counts lines as shown (a long one cut to ~500 characters); one line left out is said so', () => {
  const tail = Array.from({ length: 8 }, () => 'y'.repeat(10_000));
  const [note, ...lines] = shownTail(tail);
  expect(lines.every((line) => line.length < 600 && / \[… 9520 characters …\] /.test(line))).toBe(true);
  expect(lines).toHaveLength(7);
  expect(note).toBe('[… 1 of the last 8 lines (504 characters) left out]');
});

test("a failure's message names its log once, on its first line, also when lines of its tail are left out", () => {
  const tail = Array.from({ length: 20 }, (_, i) => `line ${String(i + 11).padStart(2, '0')} ${'x'.repeat(492)}`);
  const message = failureMessage('exp1 attempt 1 exited with code 3', LOG, tail);
  const [first, note, ...lines] = message.split('\n');
  expect(first).toBe(`exp1 attempt 1 exited with code 3; log: ${LOG}`);
  expect(message.split(LOG)).toHaveLength(2); // one occurrence
  expect(note).toBe('[… 13 of the last 20 lines (6513 characters) left out]');
  expect(lines).toEqual(tail.slice(-7));
});
