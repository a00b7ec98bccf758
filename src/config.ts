/** The optional project config file, `staged.config.json` in the directory `submit` runs in. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_PRIORITY_RULES, type PriorityRules } from './experiments/priority.js';
import { BadInputError } from './errors.js';
import { isQuotaName, parseHost, parseLimit } from './quota/declaration.js';
import type { QuotaDeclaration } from './model/types.js';
import { NOTIFY_EVENTS, type Notification } from './model/notifications.js';
import { parseAmount } from './model/requirements.js';

const CONFIG_FILE = 'staged.config.json';

const keywordList = z.array(z.string().min(1));

/** Turns a parser's thrown message into a zod issue on the field. */
const parsedBy = <T>(parse: (text: string) => T) =>
  z.string().transform((text, ctx) => {
    try {
      return parse(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

const quotaSchema = z.strictObject({
  limit: parsedBy(parseLimit),
  hosts: z.array(parsedBy(parseHost)).default([]),
  maxConcurrent: z.int().min(1).optional(),
});

const notificationSchema = z
  .strictObject({
    on: z.array(z.enum(NOTIFY_EVENTS)).min(1, 'name at least one event'),
    command: z.string().trim().min(1, 'a command may not be empty').optional(),
    webhook: z.url({ protocol: /^https?$/, error: 'a webhook is an http:// or https:// URL' }).optional(),
  })
  .refine((entry) => (entry.command === undefined) !== (entry.webhook === undefined), {
    error: 'give exactly one of "command" and "webhook"',
  });

const configSchema = z.strictObject({
  priority: z
    .strictObject({
      keywords: z
        .strictObject({ critical: keywordList, high: keywordList, medium: keywordList, low: keywordList })
        .partial()
        .optional(),
      scope: z.enum(['summary', 'docstring']).optional(),
    })
    .optional(),
  quotas: z
    .record(z.string().refine(isQuotaName, 'a quota name is a letter, then letters, digits, "_" or "-"'), quotaSchema)
    .optional(),
  notify: z.array(notificationSchema).optional(),
  snapshot: z.array(z.string().min(1, 'a snapshot path may not be empty')).min(1, 'name at least one path').optional(),
  snapshotLimit: parsedBy(parseAmount).optional(),
});

interface ProjectConfig {
  priorityRules: PriorityRules;
  /** Declared quotas by name; empty when the file declares none. */
  quotas: Record<string, QuotaDeclaration>;
  /** The `notify` list; empty when the file has none. */
  notifications: Notification[];
  /** Paths (relative to the work dir) every submit copies and runs from (docs/code.md); absent when none. */
  snapshot?: string[];
  /** The largest snapshot, in bytes; absent: the default. */
  snapshotLimit?: number;
}

export async function loadProjectConfig(dir: string): Promise<ProjectConfig> {
  const file = path.join(dir, CONFIG_FILE);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new BadInputError(`${file}: ${err.message}`);
  });
  if (text === undefined) return { priorityRules: DEFAULT_PRIORITY_RULES, quotas: {}, notifications: [] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BadInputError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) throw new BadInputError(`${file}: ${z.prettifyError(parsed.error)}`);
  const priority = parsed.data.priority ?? {};
  return {
    priorityRules: {
      keywords: priority.keywords ?? DEFAULT_PRIORITY_RULES.keywords,
      scope: priority.scope ?? DEFAULT_PRIORITY_RULES.scope,
    },
    quotas: Object.fromEntries(
      Object.entries(parsed.data.quotas ?? {}).map(([name, quota]) => {
        const declaration: QuotaDeclaration = { ...quota.limit, hosts: quota.hosts };
        if (quota.maxConcurrent !== undefined) declaration.maxConcurrent = quota.maxConcurrent;
        return [name, declaration];
      }),
    ),
    notifications: parsed.data.notify ?? [],
    ...(parsed.data.snapshot ? { snapshot: parsed.data.snapshot } : {}),
    ...(parsed.data.snapshotLimit ? { snapshotLimit: parsed.data.snapshotLimit } : {}),
  };
}
