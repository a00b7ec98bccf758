/** Turns a command's options, as typed, into checked values (zod), every message naming the option and the value. */
import { z } from 'zod';
import { BadInputError } from '../errors.js';
import { COMMANDS, type CommandName, type CommandSpec, type OptionsOf } from './command-table.js';
import { longFlag, OPTIONS, type OptionName, type OptionSpec } from './options.js';

/** Where an option's value came from, as commander reports it: `cli`, `default`, … */
export type ValueSource = (name: OptionName) => string | undefined;

function optionSchema(name: OptionName, source: string | undefined) {
  const spec: OptionSpec = OPTIONS[name];
  // A default that fails to parse came from the environment variable behind it.
  const label = source === 'default' && spec.env ? spec.env : longFlag(spec);
  return z
    .unknown()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === false) return spec.shape === 'flag' ? false : undefined;
      if (value === true) return true;
      // commander hands a list option over as an array; the table parses text (NUL never occurs in an argument).
      const text = Array.isArray(value) ? value.join('\0') : typeof value === 'string' ? value : JSON.stringify(value);
      try {
        return spec.parse(text);
      } catch (err) {
        const message = (err as Error).message;
        ctx.addIssue({ code: 'custom', message: `${label}${/^(must|may) /.test(message) ? ' ' : ': '}${message}` });
        return z.NEVER;
      }
    });
}

/** Validates raw options (strings and flags, as commander parsed them); throws BadInputError listing every problem. */
export function parseOptions<C extends CommandName>(
  command: C,
  raw: Record<string, unknown>,
  sourceOf: ValueSource = () => 'cli',
): OptionsOf<C> {
  const spec: CommandSpec = COMMANDS[command];
  const shape = Object.fromEntries(spec.options.map((name) => [name, optionSchema(name, sourceOf(name))]));
  const schema = z.object(shape).superRefine((options, ctx) => {
    for (const check of spec.checks ?? []) {
      const message = check(options);
      if (message) ctx.addIssue({ code: 'custom', message });
    }
  });
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new BadInputError(parsed.error.issues.map((issue) => issue.message).join('\n'));
  return parsed.data as OptionsOf<C>;
}
