/**
 * A gate that scripts wait at until the test opens it for all of them at once: a file lock the test holds (through a
 * `flock` process) and each script asks for, shared. A script that reaches the gate after it opened passes at once.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { until } from './processes.js';

export interface Gate {
  /** The shell command a script's body runs to wait at the gate. */
  readonly wait: string;
  /** How many scripts wait at it now. */
  waiting(): Promise<number>;
  /** Lets every script through. */
  open(): Promise<void>;
}

export async function closedGate(dir: string): Promise<Gate> {
  const lock = path.join(dir, '_gate.lock');
  await writeFile(lock, '');
  // Holds the lock until its input closes; the shell, which shares the lock, ends with it.
  const holder = execa('flock', ['-x', lock, '-c', 'echo held; read line'], { reject: false, stdin: 'pipe' });
  let said = '';
  holder.stdout?.on('data', (chunk: Buffer) => (said += chunk.toString()));
  await until(() => said.includes('held'), 10_000, 'the gate to close');
  const waitArgs = ['-s', lock, 'true'];
  return {
    wait: `flock ${waitArgs.map((arg) => `"${arg}"`).join(' ')}`,
    waiting: async () => {
      const { stdout } = await execa('pgrep', ['-c', '-f', `flock ${waitArgs.join(' ')}`], { reject: false });
      return Number(stdout) || 0;
    },
    open: async () => {
      holder.stdin?.end();
      await holder;
    },
  };
}
