/** Calls by quota, as runs report them and records sum them. Workflow-safe. */

type CallsByQuota = Record<string, number>;

/** The sum of both, by quota; undefined when neither has any. */
export function addCalls(a: CallsByQuota | undefined, b: CallsByQuota | undefined): CallsByQuota | undefined {
  if (!a || !b) return a ?? b;
  const sum = { ...a };
  for (const [quota, calls] of Object.entries(b)) sum[quota] = (sum[quota] ?? 0) + calls;
  return sum;
}
