/**
 * Turns a command's options, as typed, into checked values, every message naming the option and the value.
 * Plain code rather than a schema library: every command runs it, and loading zod cost ~70 ms of CPU.
 */
import { BadInputError } from '../errors.js';
import { COMMANDS, type CommandName, type CommandSpec, type OptionsOf } from './command-table.js';
import { longFlag, OPTIONS, type OptionName, type OptionSpec } from './options.js';

/** Where an option's value came from, as commander reports it: `cli`, `default`, … */
type ValueSource = (name: OptionName) => string | undefined;

/** One option's value, or the message saying why it is refused. */
function parseOption(
  name: OptionName,
  value: unknown,
  source: string | undefined,
): { value: unknown } | { message: string } {
  const spec: OptionSpec = OPTIONS[name];
  if (value === undefined || value === false) return { value: spec.shape === 'flag' ? false : undefined };
  if (value === true) return { value: true };
  // commander hands a list option over as an array; the table parses text (NUL never occurs in an argument).
  const text = Array.isArray(value) ? value.join('\0') : typeof value === 'string' ? value : JSON.stringify(value);
  try {
    return { value: spec.parse(text) };
  } catch (err) {
    // A default that fails to parse came from the environment variable behind it.
    const label = source === 'default' && spec.env ? spec.env : longFlag(spec);
    const message = (err as Error).message;
    return { message: `${label}${/^(must|may) /.test(message) ? ' ' : ': '}${message}` };
  }
}

/**
 * Validates raw options (strings and flags, as commander parsed them); throws BadInputError listing every
 * problem. The checks across options run only once every option parsed.
 */
export function parseOptions<C extends CommandName>(
  command: C,
  raw: Record<string, unknown>,
  sourceOf: ValueSource = () => 'cli',
): OptionsOf<C> {
  const spec: CommandSpec = COMMANDS[command];
  const options: Record<string, unknown> = {};
  const messages: string[] = [];
  for (const name of spec.options) {
    const parsed = parseOption(name, raw[name], sourceOf(name));
    if ('message' in parsed) messages.push(parsed.message);
    else if (parsed.value !== undefined || name in raw) options[name] = parsed.value;
  }
  if (!messages.length) {
    for (const derive of spec.derived ?? []) derive(options);
    for (const check of spec.checks ?? []) {
      const message = check(options);
      if (message) messages.push(message);
    }
  }
  if (messages.length) throw new BadInputError(messages.join('\n'));
  return options as OptionsOf<C>;
}
