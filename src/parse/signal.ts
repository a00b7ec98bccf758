/** A signal's name as a person types it (`USR1`, `sigusr1`, `SIGUSR1`), checked against this system's signals. */
import { constants } from 'node:os';

/** What `--signal-before` sends unless `--warn-signal` names another. */
export const DEFAULT_WARN_SIGNAL = 'SIGUSR1';

/** A warning the script cannot catch would only kill it. */
const UNCATCHABLE = ['SIGKILL', 'SIGSTOP'];

export function parseSignalName(text: string): string {
  const upper = text.trim().toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (!(name in constants.signals)) throw new Error(`must name a signal, like USR1 or SIGUSR2 (got "${text}")`);
  if (UNCATCHABLE.includes(name)) throw new Error(`must be a signal a script can catch, not ${name}`);
  return name;
}
