/**
 * Which way this machine stops a run's processes, as its keeper (keeper/run_tree.go) will: a Linux cgroup (v2) per run
 * where the machine lets one be made, else every process carrying the run's marker (found in /proc). The keeper and
 * its guard make and stop the trees; the worker says the mode in its start line, and removes a cgroup left behind.
 */
import { mkdir, readFile, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { KillMode } from './run-files.js';

/** The cgroup v2 hierarchy's mount point, when there is one. */
async function cgroup2Mount(): Promise<string | undefined> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const line of mounts.split('\n')) {
    const [before, after] = line.split(' - ');
    if (after?.startsWith('cgroup2 ')) return before.split(' ')[4];
  }
  return undefined;
}

/** The cgroup a keeper makes for runId (keeper/run_tree.go's cgroupDirOf), where this machine has cgroup v2. */
export async function runCgroupDir(runId: string): Promise<string | undefined> {
  const mount = await cgroup2Mount();
  return mount && path.join(mount, 'staged', runId.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/**
 * Removes the run's cgroup, where it has one; false while a process is still in it (one that outlived its stop's
 * SIGKILL: its keeper or guard could not remove the cgroup then). True when none is left.
 */
export async function releaseRunCgroup(runId: string): Promise<boolean> {
  const dir = await runCgroupDir(runId);
  if (!dir) return true;
  return rmdir(dir).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== 'EBUSY', // gone already, or not ours to remove: nothing to wait for
  );
}

/** Which way this machine stops a run's processes; said in the worker's start line. */
export async function killModeOfMachine(): Promise<KillMode> {
  const probe = await runCgroupDir(`probe-${process.pid}`);
  if (!probe) return 'process-scan';
  try {
    await mkdir(probe, { recursive: true });
    // Kernels before 5.14 cannot kill a cgroup at once; the file is write-only where they can.
    const error = await readFile(path.join(probe, 'cgroup.kill')).then(
      () => undefined,
      (err: NodeJS.ErrnoException) => err.code,
    );
    return error === 'ENOENT' ? 'process-scan' : 'cgroup';
  } catch {
    return 'process-scan';
  } finally {
    await rmdir(probe).catch(() => undefined);
  }
}
