/** Runs a program in the foreground with this terminal: `staged server` and `staged worker`. */
import { constants } from 'node:os';
import { execa } from 'execa';
import { EXIT } from '../errors.js';

/** How the program ended, once it has: what a wait beside it reports instead of waiting on. */
export type ExitOf = () => string | undefined;

/**
 * Runs `file args`, passing Ctrl-C and SIGTERM on; its exit code is ours (2: bad input), and a death by a signal
 * nobody passed on (SIGKILL by the OOM killer) is 128 + its number, so that `Restart=on-failure` restarts it.
 * `whenStarted` runs beside it. `ipc` gives a Node program a channel to this process.
 */
export async function inForeground(
  file: string,
  args: string[],
  cwd: string,
  whenStarted?: (exited: ExitOf) => Promise<void>,
  { ipc = false, env = {} }: { ipc?: boolean; env?: Record<string, string> } = {},
): Promise<number> {
  // A Node program given an IPC channel sees this process end, even by SIGKILL (worker/parent-command.ts).
  // Never SIGKILLed by us after a SIGTERM passed on (execa's default, 5 s later): its stop may take the runs' grace.
  const child = execa(file, args, { stdio: 'inherit', reject: false, cwd, ipc, env, forceKillAfterDelay: false });
  const forwarded = new Set<string>();
  const forward = (signal: NodeJS.Signals) => {
    forwarded.add(signal);
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let exit: string | undefined;
  void child.then(
    (result) => (exit = result.signal ? `was stopped by ${result.signal}` : `exited (${result.exitCode})`),
  );
  const started = whenStarted?.(() => exit);
  const result = await child;
  await started;
  if (result.signal) return forwarded.has(result.signal) ? EXIT.ok : 128 + (constants.signals[result.signal] ?? 0);
  return result.exitCode ?? EXIT.failed;
}
