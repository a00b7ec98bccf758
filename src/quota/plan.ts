/**
 * What a selection asks of each quota, and the least time the limit allows: from its experiments'
 * `Calls:` lines, else from the calls the same experiment made when it last completed.
 */
import type { BatchSummary, QuotaDeclaration } from '../model/types.js';

export interface QuotaPlan {
  name: string;
  limit: number;
  windowMs: number;
  experiments: number;
  /** The calls planned: `fromCallsLines` plus `measuredEarlier`. */
  calls: number;
  /** The sum of the `Calls:` lines. */
  fromCallsLines: number;
  /** Of experiments without a `Calls:` line: the calls they made when they last completed in an earlier batch. */
  measuredEarlier: number;
  /** Experiments using the quota with neither: their calls are not counted. */
  withoutEstimate: number;
  /** The least time `calls` can take under the limit: all of a window's calls at once, then the next window. */
  leastMs: number;
}

/** Calls by quota, by experiment name. */
type MeasuredCalls = ReadonlyMap<string, Record<string, number>>;

export function leastTimeMs(calls: number, limit: number, windowMs: number): number {
  return calls <= limit ? 0 : (Math.ceil(calls / limit) - 1) * windowMs;
}

/**
 * Each experiment's calls when it last completed (the latest `closedAt`) with calls recorded. A
 * failed or cancelled one is left out: it stopped early, or its calls add up several failed runs.
 */
export function latestMeasuredCalls(summaries: readonly BatchSummary[]): Map<string, Record<string, number>> {
  const latest = new Map<string, { closedAt: string; calls: Record<string, number> }>();
  for (const { experiments } of summaries) {
    for (const { name, status, closedAt, calls } of experiments) {
      if (status !== 'completed' || !calls || closedAt === null) continue;
      const known = latest.get(name);
      if (!known || Date.parse(closedAt) > Date.parse(known.closedAt)) latest.set(name, { closedAt, calls });
    }
  }
  return new Map([...latest].map(([name, { calls }]) => [name, calls]));
}

export function planQuotas(
  queue: readonly { name: string; quotas?: string[]; calls?: number }[],
  declared: Record<string, QuotaDeclaration>,
  measured: MeasuredCalls = new Map(),
): QuotaPlan[] {
  return Object.entries(declared).flatMap(([name, { limit, windowMs }]) => {
    const using = queue.filter((experiment) => experiment.quotas?.includes(name));
    if (!using.length) return [];
    let fromCallsLines = 0;
    let measuredEarlier = 0;
    let withoutEstimate = 0;
    for (const experiment of using) {
      const earlier = measured.get(experiment.name)?.[name];
      if (experiment.calls !== undefined) fromCallsLines += experiment.calls;
      else if (earlier !== undefined) measuredEarlier += earlier;
      else withoutEstimate++;
    }
    const calls = fromCallsLines + measuredEarlier;
    return [
      {
        name,
        limit,
        windowMs,
        experiments: using.length,
        calls,
        fromCallsLines,
        measuredEarlier,
        withoutEstimate,
        leastMs: leastTimeMs(calls, limit, windowMs),
      },
    ];
  });
}
