/** The optional project config file, `staged.config.json` in the directory `submit` runs in. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_PRIORITY_RULES, type PriorityRules } from './experiments/priority.js';
import { BadInputError } from './errors.js';

export const CONFIG_FILE = 'staged.config.json';

const keywordList = z.array(z.string().min(1));
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
});

export interface ProjectConfig {
  priorityRules: PriorityRules;
}

export async function loadProjectConfig(dir: string): Promise<ProjectConfig> {
  const file = path.join(dir, CONFIG_FILE);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new BadInputError(`${file}: ${err.message}`);
  });
  if (text === undefined) return { priorityRules: DEFAULT_PRIORITY_RULES };
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
  };
}
