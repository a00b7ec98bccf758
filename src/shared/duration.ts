/** Durations as people write them: `90m`, `1h30m`, `45s`, `500ms`, `2d`. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const WHOLE = /^(\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

export function parseDuration(text: string): number {
  const trimmed = text.trim().toLowerCase();
  if (!WHOLE.test(trimmed)) {
    throw new Error(`"${text}" is not a duration: write e.g. 90m, 1h30m, 45s or 500ms`);
  }
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) total += Number(amount) * UNIT_MS[unit];
  if (total <= 0) throw new Error(`"${text}" must be longer than zero`);
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)}min`;
  return `${(ms / 3_600_000).toFixed(1)}h`;
}
