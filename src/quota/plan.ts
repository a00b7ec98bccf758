/** What a selection asks of each quota, from its experiments' `Calls:` lines, and the least time the limit allows. */
import type { QuotaDeclaration } from '../shared/types.js';

export interface QuotaPlan {
  name: string;
  limit: number;
  windowMs: number;
  experiments: number;
  /** The sum of the `Calls:` lines. */
  calls: number;
  /** Experiments using the quota without a `Calls:` line: their calls are not counted. */
  withoutEstimate: number;
  /** The least time `calls` can take under the limit: all of a window's calls at once, then the next window. */
  leastMs: number;
}

export function leastTimeMs(calls: number, limit: number, windowMs: number): number {
  return calls <= limit ? 0 : (Math.ceil(calls / limit) - 1) * windowMs;
}

export function planQuotas(
  queue: readonly { quotas?: string[]; calls?: number }[],
  declared: Record<string, QuotaDeclaration>,
): QuotaPlan[] {
  return Object.entries(declared).flatMap(([name, { limit, windowMs }]) => {
    const using = queue.filter((experiment) => experiment.quotas?.includes(name));
    if (!using.length) return [];
    const calls = using.reduce((sum, experiment) => sum + (experiment.calls ?? 0), 0);
    const withoutEstimate = using.filter((experiment) => experiment.calls === undefined).length;
    return [
      {
        name,
        limit,
        windowMs,
        experiments: using.length,
        calls,
        withoutEstimate,
        leastMs: leastTimeMs(calls, limit, windowMs),
      },
    ];
  });
}
