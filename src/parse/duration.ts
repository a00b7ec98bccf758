/** Durations as people write them: `90m`, `1h30m`, `45s`, `500ms`, `2d`. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const WHOLE = /^(\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** The longest delay a JS timer holds (a signed 32-bit count of ms, ~24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

interface DurationLimits {
  /** Longest accepted duration; default MAX_TIMER_MS, since most durations end up in a timer. */
  maxMs?: number;
}

export function parseDuration(text: string, { maxMs = MAX_TIMER_MS }: DurationLimits = {}): number {
  const trimmed = text.trim().toLowerCase();
  if (!WHOLE.test(trimmed)) {
    throw new Error(`"${text}" is not a duration: write e.g. 90m, 1h30m, 45s or 500ms`);
  }
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) total += Number(amount) * UNIT_MS[unit];
  if (total <= 0) throw new Error(`"${text}" must be longer than zero`);
  if (total > maxMs) {
    const limit =
      maxMs === MAX_TIMER_MS ? '24.8 days (2^31-1 ms, the longest a timer can wait)' : formatDuration(maxMs);
    throw new Error(`"${text}" is too long: at most ${limit}`);
  }
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)}min`;
  if (ms < 2 * 86_400_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  return `${(ms / 86_400_000).toFixed(1)}d`;
}
