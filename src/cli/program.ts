/** commander commands made from the command and option tables; `staged worker` uses the same. */
import { Command, Option } from 'commander';
import { COMMANDS, type CommandName, type CommandSpec, type OptionsOf } from './command-table.js';
import { defaultText, OPTIONS, type OptionName } from './options.js';
import { parseOptions } from './validate.js';

function commanderOption(name: OptionName, command: CommandSpec): Option {
  const spec = OPTIONS[name];
  const ownHelp = command.helpFor?.[name] ?? spec.help;
  const help = 'choices' in spec && spec.choices ? `${ownHelp} (one of: ${spec.choices.join(', ')})` : ownHelp;
  const option = new Option(spec.flags, help);
  // commander derives the key from the flag: a table entry whose name differs would never be read.
  if (option.attributeName() !== name) {
    throw new Error(`option table: ${spec.flags} is read as "${option.attributeName()}" but declared as "${name}"`);
  }
  const fallback = command.withoutDefaults?.includes(name) ? undefined : defaultText(spec);
  if (fallback !== undefined) option.default(fallback);
  if ('hidden' in spec && spec.hidden) option.hideHelp();
  return option;
}

/** The command `name` with its arguments and options, added to `program` or standing alone. */
export function buildCommand(name: CommandName, program?: Command): Command {
  const spec: CommandSpec = COMMANDS[name];
  const command = program ? program.command(name) : new Command(`staged ${name}`);
  command.description(spec.description);
  for (const argument of spec.arguments) command.argument(argument.name, argument.help);
  for (const option of spec.options) command.addOption(commanderOption(option, spec));
  if (spec.helpAfter) command.addHelpText('after', spec.helpAfter);
  return command;
}

/** The parsed command's options, validated and typed. */
export function optionsOf<C extends CommandName>(name: C, command: Command): OptionsOf<C> {
  return parseOptions(name, command.opts(), (option) => command.getOptionValueSource(option));
}
