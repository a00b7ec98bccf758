/**
 * Kills an experiment's whole process group when the worker that started it dies, even by SIGKILL:
 * the kernel sends the watchdog SIGTERM when its parent exits (setpriv --pdeathsig, from util-linux).
 */
import { spawn } from 'node:child_process';
import { signalGroup } from './process-group.js';

// $1 group, $2 grace in tenths of a second. `wait`, not a foreground sleep, lets the trap run at once; dash's kill takes no "--".
const WATCHDOG_SCRIPT = [
  'trap \'kill "$s" 2>/dev/null; kill -TERM "-$1" 2>/dev/null; n=0;',
  'while kill -0 "-$1" 2>/dev/null && [ "$n" -lt "$2" ]; do sleep 0.1; n=$((n+1)); done;',
  'kill -KILL "-$1" 2>/dev/null; exit 0\' TERM;',
  'while :; do sleep 3600 & s=$!; wait "$s"; done',
].join(' ');

export interface Watchdog {
  stop(): void;
}

export function startWatchdog(groupId: number, graceMs: number): Watchdog {
  const watchdog = spawn(
    'setpriv',
    ['--pdeathsig', 'TERM', '--', 'sh', '-c', WATCHDOG_SCRIPT, 'staged-watchdog', String(groupId), String(Math.ceil(graceMs / 100))],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.on('error', () => undefined); // without setpriv the next attempt still kills the recorded group
  watchdog.unref();
  return {
    stop() {
      if (watchdog.pid !== undefined) signalGroup(watchdog.pid, 'SIGKILL');
    },
  };
}
