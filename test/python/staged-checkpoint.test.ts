/** staged's Python checkpoint helper (python/staged_checkpoint.py) in real Python processes, without Temporal. */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { tempDir } from '../helpers/scripts.js';

const PYTHON_DIR = fileURLToPath(new URL('../../../python', import.meta.url));
const PYTHON = process.env.STAGED_TEST_PYTHON ?? 'python3';

function python(code: string, env: Record<string, string>, cwd: string) {
  return execa(PYTHON, ['-c', code], { env: { PYTHONPATH: PYTHON_DIR, ...env }, extendEnv: false, cwd, reject: false });
}

test('checkpoint_dir() is STAGED_CHECKPOINT_DIR, created; attempt() STAGED_ATTEMPT; requeue() exits 85', async () => {
  const work = await tempDir('py-checkpoint');
  const dir = path.join(work, 'results', 'b1', 'exp1', 'checkpoint');
  const code = [
    'import staged_checkpoint as c',
    'print(c.checkpoint_dir(), c.attempt(), c.REQUEUE_EXIT_CODE, flush=True)',
    'c.requeue()',
  ].join('\n');
  const result = await python(code, { STAGED_CHECKPOINT_DIR: dir, STAGED_ATTEMPT: '3' }, work);
  expect(result.stdout).toBe(`${dir} 3 85`);
  expect(result.exitCode).toBe(85);
  expect((await stat(dir)).isDirectory()).toBe(true);
});

test('outside staged: ./checkpoints/<script>/ and run 1', async () => {
  const work = await tempDir('py-checkpoint-by-hand');
  const result = await python('import staged_checkpoint as c; print(c.checkpoint_dir(), c.attempt())', {}, work);
  expect(result.stdout).toBe('checkpoints/-c 1');
  expect((await stat(path.join(work, 'checkpoints', '-c'))).isDirectory()).toBe(true);
});

test('watch_warning() is set by the signal STAGED_WARN_SIGNAL names (SIGUSR1 by default), and only by it', async () => {
  const work = await tempDir('py-checkpoint-warning');
  const code = (signal: string) =>
    [
      'import os, signal, time, staged_checkpoint as c',
      'warned = c.watch_warning()',
      `os.kill(os.getpid(), signal.${signal})`,
      'print(warned.wait(5))',
    ].join('\n');
  expect((await python(code('SIGUSR1'), {}, work)).stdout).toBe('True');
  expect((await python(code('SIGUSR2'), { STAGED_WARN_SIGNAL: 'SIGUSR2' }, work)).stdout).toBe('True');
  // Another signal than the warning: SIGUSR1's own default action ends the process.
  const other = await python(code('SIGUSR1'), { STAGED_WARN_SIGNAL: 'SIGUSR2' }, work);
  expect(other.signal).toBe('SIGUSR1');
});
