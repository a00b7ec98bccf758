/** A run's cgroup left behind by a stop whose process outlived it: removed once the process is gone, not before. */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { killModeOfMachine, releaseRunCgroup, runCgroupDir } from '../../src/keeper/kill-mode.js';
import { waitUntilDead } from '../helpers/processes.js';

test('a run cgroup with a process in it stays; once the process is gone, it is removed', async () => {
  if ((await killModeOfMachine()) !== 'cgroup') return; // no cgroup per run here: nothing is left behind
  const runId = `kill-mode-test-${process.pid}-${Date.now()}`;
  const dir = (await runCgroupDir(runId))!;
  await mkdir(dir, { recursive: true });
  const survivor = spawn('sleep', ['300'], { stdio: 'ignore' });
  try {
    await writeFile(path.join(dir, 'cgroup.procs'), String(survivor.pid));
    expect(await releaseRunCgroup(runId)).toBe(false);
    expect(existsSync(dir)).toBe(true);
  } finally {
    survivor.kill('SIGKILL');
  }
  expect(await waitUntilDead([survivor.pid!], 10_000)).toBeDefined();
  expect(await releaseRunCgroup(runId)).toBe(true);
  expect(existsSync(dir)).toBe(false);
  expect(await releaseRunCgroup(runId)).toBe(true); // none: nothing left behind
});
