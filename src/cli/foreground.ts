/** Runs a program in the foreground with this terminal: `staged server` and `staged worker`. */
import { execa } from 'execa';
import { EXIT } from '../errors.js';

/** How the program ended, once it has: what a wait beside it reports instead of waiting on. */
export type ExitOf = () => string | undefined;

/** Runs `file args`, passing Ctrl-C and SIGTERM on; its exit is ours. `whenStarted` runs beside it. */
export async function inForeground(
  file: string,
  args: string[],
  cwd: string,
  whenStarted?: (exited: ExitOf) => Promise<void>,
): Promise<number> {
  const child = execa(file, args, { stdio: 'inherit', reject: false, cwd });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let exit: string | undefined;
  void child.then(
    (result) => (exit = result.signal ? `was stopped by ${result.signal}` : `exited (${result.exitCode})`),
  );
  const started = whenStarted?.(() => exit);
  const result = await child;
  await started;
  return result.exitCode === 0 || result.signal ? EXIT.ok : EXIT.failed;
}
