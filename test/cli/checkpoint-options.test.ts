/** submit's checkpoint options: --signal-before (with --timeout), --warn-signal, --max-requeues, as batch settings. */
import { BadInputError } from '../../src/errors.js';
import { buildCommand, optionsOf } from '../../src/cli/program.js';
import { toBatchSettings } from '../../src/cli/batch-settings.js';
import type { OptionsOf } from '../../src/cli/command-table.js';

function submitOptions(argv: string[]): OptionsOf<'submit'> {
  const command = buildCommand('submit').exitOverride();
  command.parse(argv, { from: 'user' });
  return optionsOf<'submit'>('submit', command);
}

const settingsOf = (argv: string[]) => toBatchSettings(submitOptions(argv), '/work', false);

test('by default: no warning, and up to 100 requeues', () => {
  const settings = settingsOf([]);
  expect(settings.maxRequeues).toBe(100);
  expect(settings.signalBeforeMs).toBeUndefined();
  expect(settings.warnSignal).toBeUndefined();
});

test('--signal-before with --timeout: the warning and its signal (SIGUSR1 unless --warn-signal names another)', () => {
  expect(settingsOf(['--timeout', '1h', '--signal-before', '5m'])).toMatchObject({
    timeoutMs: 3_600_000,
    signalBeforeMs: 300_000,
    warnSignal: 'SIGUSR1',
  });
  expect(settingsOf(['--timeout', '20s', '--signal-before', '15s', '--warn-signal', 'usr2'])).toMatchObject({
    signalBeforeMs: 15_000,
    warnSignal: 'SIGUSR2',
  });
  expect(settingsOf(['--max-requeues', '0']).maxRequeues).toBe(0);
});

test.each([
  [['--signal-before', '5m'], '--signal-before needs --timeout'],
  [['--timeout', '5m', '--signal-before', '5m'], '--signal-before must be shorter than --timeout'],
  [['--timeout', '5m', '--signal-before', 'soon'], '--signal-before: "soon" is not a duration'],
  [['--timeout', '5m', '--warn-signal', 'USR2'], '--warn-signal needs --signal-before'],
  [['--warn-signal', 'NOPE'], '--warn-signal must name a signal, like USR1 or SIGUSR2 (got "NOPE")'],
  [['--warn-signal', 'KILL'], '--warn-signal must be a signal a script can catch, not SIGKILL'],
  [['--max-requeues', '-1'], '--max-requeues must be an integer ≥ 0'],
])('%j is bad input: %s', (argv, message) => {
  expect(() => submitOptions(argv)).toThrow(BadInputError);
  expect(() => submitOptions(argv)).toThrow(message);
});
