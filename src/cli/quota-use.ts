/** Checks of the quotas a queue of experiments uses, shared by `submit` and `add`. */
import { BadInputError } from '../errors.js';
import type { DiscoveredExperiment } from '../experiments/discover.js';
import type { QuotaDeclaration } from '../model/types.js';

/** An automatically metered experiment whose quota names no host would make its calls unmetered. */
export function refuseUnmetered(queue: DiscoveredExperiment[], quotas: Record<string, QuotaDeclaration>): void {
  for (const experiment of queue) {
    if (experiment.metering === 'manual') continue;
    const hostless = (experiment.quotas ?? []).find((name) => !quotas[name]?.hosts.length);
    if (hostless === undefined) continue;
    throw new BadInputError(
      `quota "${hostless}" declares no hosts in staged.config.json, so the calls of ${experiment.name} ` +
        `would go unmetered: list the API's hosts ("hosts": ["api.example.com"]), or write "Metering: manual" ` +
        'in the experiment if it calls acquire itself',
    );
  }
}

/** The declarations of the quotas the queue uses. */
export function quotasUsedBy(
  queue: readonly DiscoveredExperiment[],
  declared: Record<string, QuotaDeclaration>,
): Record<string, QuotaDeclaration> {
  const used = new Set(queue.flatMap((experiment) => experiment.quotas ?? []));
  return Object.fromEntries(Object.entries(declared).filter(([name]) => used.has(name)));
}
