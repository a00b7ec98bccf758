/** Where priority is decided: an explicit `Priority:` line, else keywords in the docstring's summary. */
import { DocstringLineError } from '../errors.js';
import { PRIORITIES, type Priority } from '../model/types.js';
import { describingText, summaryOf } from './docstring.js';

export interface PriorityRules {
  /** Keywords per level, matched case-insensitively as words or word prefixes; highest level wins. */
  keywords: Partial<Record<Priority, string[]>>;
  /** Which part of the docstring the keywords are looked for in. */
  scope: 'summary' | 'docstring';
}

export const DEFAULT_PRIORITY_RULES: PriorityRules = {
  keywords: {
    critical: ['critical', 'production', 'deploy'],
    high: ['adaptive', 'trinity', 'risk management'],
  },
  scope: 'summary',
};

interface PriorityDecision {
  priority: Priority;
  reason: string;
}

const PRIORITY_LINE = /^[\s#*-]*priority\s*:\s*(.*?)\s*$/im;

function keywordPattern(keyword: string): RegExp {
  const escaped = keyword
    .trim()
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replace(/\s+/g, '\\s+');
  return new RegExp(`(?<![\\p{L}\\p{N}_])${escaped}[\\p{L}\\p{N}_]*`, 'giu');
}

/** Classifies a script's describing text; throws DocstringLineError for a `Priority:` line with an unknown level. */
export function decidePriority(text: string, rules: PriorityRules = DEFAULT_PRIORITY_RULES): PriorityDecision {
  const explicit = PRIORITY_LINE.exec(text);
  if (explicit) {
    const level = explicit[1].toLowerCase();
    if (!(PRIORITIES as readonly string[]).includes(level)) {
      throw new DocstringLineError(
        `malformed line "${explicit[0].trim()}": ` + `the level must be one of ${PRIORITIES.join(', ')}`,
      );
    }
    return { priority: level as Priority, reason: `explicit line "Priority: ${level}"` };
  }
  const scoped = rules.scope === 'summary' ? summaryOf(text) : text;
  for (const level of PRIORITIES) {
    for (const keyword of rules.keywords[level] ?? []) {
      const words = [...scoped.matchAll(keywordPattern(keyword))].map((match) => match[0].replace(/\s+/g, ' '));
      if (words.length) {
        const unique = [...new Set(words)].map((word) => `"${word}"`).join(', ');
        return { priority: level, reason: `keyword "${keyword}" in ${rules.scope} matched ${unique}` };
      }
    }
  }
  return { priority: 'medium', reason: `no keyword in ${rules.scope} (default)` };
}

export function decideScriptPriority(source: string, isPython: boolean, rules?: PriorityRules): PriorityDecision {
  return decidePriority(describingText(source, isPython), rules);
}
