/** Runs a program in the foreground with this terminal: `staged server` and `staged worker`. */
import { execa } from 'execa';
import { EXIT } from '../errors.js';

/** Runs `file args`, passing Ctrl-C and SIGTERM on; its exit is ours. `whenStarted` runs beside it. */
export async function inForeground(
  file: string,
  args: string[],
  cwd: string,
  whenStarted?: () => Promise<void>,
): Promise<number> {
  const child = execa(file, args, { stdio: 'inherit', reject: false, cwd });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const started = whenStarted?.();
  const result = await child;
  await started;
  return result.exitCode === 0 || result.signal ? EXIT.ok : EXIT.failed;
}
