/**
 * Every process a run started, wherever it went: a Linux cgroup (v2) per run where the machine
 * allows it, else every process carrying the run's marker in its environment (found in /proc).
 * Either catches children in new sessions and double-forked daemons, which a process group misses.
 */
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { KillMode } from './run-files.js';

/** Every experiment process and its descendants carry this variable, with the run's id. */
export const RUN_MARKER = 'STAGED_RUN_ID';
const POLL_MS = 50;
const KILL_WAIT_MS = 5_000;
/** A freeze takes effect within this; past it, the keeper says so and tries again on its next check. */
const FREEZE_WAIT_MS = 2_000;

interface RunTree {
  readonly mode: KillMode;
  /** The command that starts `file args` inside the tree. */
  wrap(file: string, args: string[]): { file: string; args: string[] };
  members(): Promise<number[]>;
  /** SIGTERM to every member, SIGKILL after `graceMs` to what is left; resolves when none is left. */
  stop(graceMs: number): Promise<void>;
  /** Stops every member where it is (`pause <batchId> <exp>`); true once all are frozen. */
  freeze(): Promise<boolean>;
  /** Lets frozen members run on; a stop of a frozen run thaws it first, so that its SIGTERM is seen. */
  thaw(): Promise<void>;
  release(): Promise<void>;
}

/** The cgroup v2 hierarchy's mount point, when there is one. */
async function cgroup2Mount(): Promise<string | undefined> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const line of mounts.split('\n')) {
    const [before, after] = line.split(' - ');
    if (after?.startsWith('cgroup2 ')) return before.split(' ')[4];
  }
  return undefined;
}

/** A cgroup of its own for a run, or undefined where this machine does not let us make one. */
async function makeCgroup(runId: string): Promise<string | undefined> {
  const mount = await cgroup2Mount();
  if (!mount) return undefined;
  const dir = path.join(mount, 'staged', runId.replace(/[^A-Za-z0-9._-]/g, '_'));
  try {
    await mkdir(dir, { recursive: true });
    await readFile(path.join(dir, 'cgroup.kill')).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw err; // kernels before 5.14 cannot kill a cgroup at once
    });
    return dir;
  } catch {
    await rmdir(dir).catch(() => undefined);
    return undefined;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** A process's state letter in /proc (R, S, T stopped, Z zombie…); undefined once it is gone. */
async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'latin1').catch(() => '');
  const end = stat.lastIndexOf(')');
  return end < 0 ? undefined : stat.slice(end + 2, end + 3);
}

async function untilEmpty(tree: RunTree, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await tree.members()).length) return true;
    if (Date.now() >= deadline) return false;
    await delay(POLL_MS);
  }
}

class CgroupTree implements RunTree {
  readonly mode = 'cgroup' as const;
  constructor(private readonly dir: string) {}

  wrap(file: string, args: string[]) {
    // The shell joins the cgroup before it becomes the script: nothing runs outside it.
    return {
      file: '/bin/sh',
      args: ['-c', 'echo $$ > "$0" && exec "$@"', path.join(this.dir, 'cgroup.procs'), file, ...args],
    };
  }

  async members(): Promise<number[]> {
    const text = await readFile(path.join(this.dir, 'cgroup.procs'), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).map(Number);
  }

  async stop(graceMs: number): Promise<void> {
    for (const pid of await this.members()) signal(pid, 'SIGTERM');
    if (await untilEmpty(this, graceMs)) return;
    await writeFile(path.join(this.dir, 'cgroup.kill'), '1').catch(() => undefined);
    await untilEmpty(this, KILL_WAIT_MS);
  }

  async freeze(): Promise<boolean> {
    await writeFile(path.join(this.dir, 'cgroup.freeze'), '1');
    const deadline = Date.now() + FREEZE_WAIT_MS;
    for (;;) {
      const events = await readFile(path.join(this.dir, 'cgroup.events'), 'utf8').catch(() => '');
      if (/^frozen 1$/m.test(events)) return true;
      if (Date.now() >= deadline) return false;
      await delay(POLL_MS);
    }
  }

  async thaw(): Promise<void> {
    await writeFile(path.join(this.dir, 'cgroup.freeze'), '0').catch(() => undefined);
  }

  async release(): Promise<void> {
    await rmdir(this.dir).catch(() => undefined);
  }
}

class MarkedTree implements RunTree {
  readonly mode = 'process-scan' as const;
  constructor(private readonly marker: string) {}

  wrap(file: string, args: string[]) {
    return { file, args };
  }

  async members(): Promise<number[]> {
    const found: number[] = [];
    for (const entry of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(entry)) continue;
      const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
      if (!environ.split('\0').includes(this.marker)) continue;
      const status = await readFile(`/proc/${entry}/stat`, 'latin1').catch(() => '');
      if (status.slice(status.lastIndexOf(')') + 2, status.lastIndexOf(')') + 3) !== 'Z') found.push(Number(entry));
    }
    return found;
  }

  async stop(graceMs: number): Promise<void> {
    for (const pid of await this.members()) signal(pid, 'SIGTERM');
    if (await untilEmpty(this, graceMs)) return;
    const deadline = Date.now() + KILL_WAIT_MS;
    do {
      for (const pid of await this.members()) signal(pid, 'SIGKILL'); // again: a dying parent may fork once more
    } while (!(await untilEmpty(this, 200)) && Date.now() < deadline);
  }

  async freeze(): Promise<boolean> {
    // Again until a scan finds every member stopped: one may have forked between the scan and its SIGSTOP.
    const deadline = Date.now() + FREEZE_WAIT_MS;
    for (;;) {
      const running: number[] = [];
      for (const pid of await this.members()) if ((await processState(pid)) !== 'T') running.push(pid);
      if (!running.length) return true;
      if (Date.now() >= deadline) return false;
      for (const pid of running) signal(pid, 'SIGSTOP');
      await delay(POLL_MS / 5);
    }
  }

  async thaw(): Promise<void> {
    for (const pid of await this.members()) signal(pid, 'SIGCONT');
  }

  async release(): Promise<void> {}
}

export async function runTreeFor(runId: string, forceMode?: KillMode): Promise<RunTree> {
  const cgroup = forceMode === 'process-scan' ? undefined : await makeCgroup(runId);
  return cgroup ? new CgroupTree(cgroup) : new MarkedTree(`${RUN_MARKER}=${runId}`);
}

/** Which way this machine stops a run's processes; said in the worker's start line. */
export async function killModeOfMachine(): Promise<KillMode> {
  const probe = await runTreeFor(`probe-${process.pid}`);
  await probe.release();
  return probe.mode;
}
