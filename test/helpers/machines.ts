/**
 * Machines on this host for multi-machine tests. Each is a network namespace joined by a veth link to
 * a bridge of the test's own (10.77.<n>.0/24, the host side .1, where the server or a relay to it listens), with
 * its own host name (a UTS namespace), its own runs directory, and a real staged worker process that
 * reaches the server over that link only. The file system is shared, as a cluster's shared file system is.
 *
 * Killing a machine SIGKILLs every process in its namespace at once (worker, keepers, experiments);
 * cutting its link drops its traffic both ways while everything on it runs on. Namespaces and links are
 * named `stg<pid>-…` after the test process: teardown removes its own, and a later run removes those
 * of a test process that died before it could.
 */
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { RunFiles } from '../../src/keeper/run-files.js';
import { releaseRunCgroup } from '../../src/keeper/kill-mode.js';
import { spawnWorker, type WorkerProcess } from './processes.js';
import { tempDir } from './scripts.js';

const NAME_PREFIX = 'stg';
const OURS = new RegExp(`^${NAME_PREFIX}(\\d+)-`);
/** Processes that do not die within this after SIGKILL are reported, not waited for forever. */
const KILL_WAIT_MS = 10_000;

export interface Machine {
  /** Its host name, as its processes see it (and its worker's machine id). */
  readonly name: string;
  readonly ip: string;
  /** Its worker's `--runs-dir`: where its runs are kept. */
  readonly runsDir: string;
  /**
   * Starts `npm run worker`'s program inside the machine, with its runs directory; resolves once it polls.
   * `address` is the server as the machine reaches it (the network's host side).
   */
  startWorker(address: string, taskQueue: string, slots: number, extraArgs?: string[]): Promise<WorkerProcess>;
  /** Pids of every process inside the machine. */
  processes(): number[];
  /** SIGKILL to every process inside at once, again until none is left; resolves with the time none was left. */
  kill(): Promise<number>;
  /** Takes its link down: nothing passes either way; its processes run on. */
  cutLink(): void;
  restoreLink(): void;
}

export interface MachineNetwork {
  /** Where the machines reach the host: the Temporal server, or a relay to it, listens here. */
  readonly hostIp: string;
  /** A new machine on the network, its link up, no process in it yet. */
  addMachine(name: string): Promise<Machine>;
  /** Kills everything inside the machines made so far and removes them. */
  removeMachines(): Promise<void>;
  /** Removes the machines and the bridge. Safe to call more than once. */
  teardown(): Promise<void>;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function namespacePids(namespace: string): number[] {
  try {
    return ip('netns', 'pids', namespace).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** Kills what is inside, then removes the namespace (its end of the veth link goes with it). */
function removeNamespace(namespace: string): void {
  for (let round = 0; round < 20 && namespacePids(namespace).length; round++) killAll(namespacePids(namespace));
  try {
    ip('netns', 'del', namespace);
  } catch {
    // removed already
  }
}

function removeLink(link: string): void {
  try {
    ip('link', 'del', link);
  } catch {
    // removed already, or with its namespace
  }
}

function ourNamespaces(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => OURS.test(name));
}

function ourLinks(): string[] {
  return ip('-o', 'link', 'show')
    .split('\n')
    .map((line) => line.split(': ')[1]?.split('@')[0] ?? '')
    .filter((name) => OURS.test(name));
}

/** Removes the namespaces and links whose names `belongs` accepts. */
function sweep(belongs: (name: string) => boolean): void {
  for (const namespace of ourNamespaces().filter(belongs)) removeNamespace(namespace);
  for (const link of ourLinks().filter(belongs)) removeLink(link);
}

/** Left by a test process that is gone (killed before its teardown ran). */
function leftByTheDead(name: string): boolean {
  const pid = Number(OURS.exec(name)?.[1]);
  return pid !== process.pid && !pidAlive(pid);
}

const ownPrefix = `${NAME_PREFIX}${process.pid}-`;
let exitHookInstalled = false;

/**
 * Why this machine cannot make test machines (not root, no CAP_NET_ADMIN, no `ip`/`nsenter`/`unshare`),
 * or undefined when it can.
 */
export function whyNoMachines(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces are Linux's; this is ${process.platform}`;
  const probe = `${ownPrefix}probe`;
  try {
    ip('netns', 'add', probe);
    execFileSync('nsenter', [`--net=/run/netns/${probe}`, '--', 'unshare', '--uts', '--', 'true'], { stdio: 'pipe' });
    ip('link', 'add', `${probe}0`, 'type', 'veth', 'peer', 'name', `${probe}1`);
    return undefined;
  } catch (err) {
    const why = String((err as { stderr?: string }).stderr || (err as Error).message)
      .trim()
      .split('\n')[0];
    return (
      'cannot make network namespaces and veth links here ' +
      `(needs root or CAP_NET_ADMIN, iproute2 and util-linux): ${why}`
    );
  } finally {
    removeNamespace(probe);
    removeLink(`${probe}0`);
  }
}

/** A /24 of 10.77.x.0 that no interface of this host uses, chosen from the pid so that parallel runs differ. */
function freeSubnet(): number {
  const used = new Set([...ip('-4', '-o', 'addr', 'show').matchAll(/inet 10\.77\.(\d+)\./g)].map((m) => Number(m[1])));
  for (let i = 0; i < 254; i++) {
    const subnet = ((process.pid + i) % 254) + 1;
    if (!used.has(subnet)) return subnet;
  }
  throw new Error('no free 10.77.x.0/24 subnet for the test machines');
}

/** A bridge on the host, where machines are added. */
export function machineNetwork(): MachineNetwork {
  sweep(leftByTheDead);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A failed or interrupted test file still leaves nothing behind (jest's forceExit ends with process.exit).
    process.once('exit', () => sweep((name) => name.startsWith(ownPrefix)));
  }
  const subnet = freeSubnet();
  const bridge = `${ownPrefix}br`;
  const hostIp = `10.77.${subnet}.1`;
  ip('link', 'add', bridge, 'type', 'bridge');
  ip('addr', 'add', `${hostIp}/24`, 'dev', bridge);
  ip('link', 'set', bridge, 'up');

  let made = 0;
  const namespaces: string[] = [];
  const machines: { namespace: string; runsDir: string }[] = [];

  const addMachine = async (name: string): Promise<Machine> => {
    const index = ++made;
    const namespace = `${ownPrefix}${index}`;
    const hostEnd = `${namespace}h`;
    const machineEnd = `${namespace}n`;
    const machineIp = `10.77.${subnet}.${10 + index}`;
    ip('netns', 'add', namespace);
    namespaces.push(namespace);
    ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', machineEnd);
    ip('link', 'set', machineEnd, 'netns', namespace);
    ip('link', 'set', hostEnd, 'master', bridge, 'up');
    ip('-n', namespace, 'addr', 'add', `${machineIp}/24`, 'dev', machineEnd);
    ip('-n', namespace, 'link', 'set', machineEnd, 'up');
    ip('-n', namespace, 'link', 'set', 'lo', 'up');
    const runsDir = await tempDir(`runs-${name}`);
    machines.push({ namespace, runsDir });
    // nsenter rather than `ip netns exec`, which mounts a /sys of its own and would hide the cgroup file system.
    const prefix = [
      'nsenter',
      `--net=/run/netns/${namespace}`,
      '--',
      'unshare',
      '--uts',
      '--',
      'sh',
      '-c',
      'hostname "$0" && exec "$@"',
      name,
    ];
    const processes = () => namespacePids(namespace);
    return {
      name,
      ip: machineIp,
      runsDir,
      startWorker: (address, taskQueue, slots, extraArgs = []) =>
        spawnWorker(address, taskQueue, slots, ['--runs-dir', runsDir, ...extraArgs], { prefix }),
      processes,
      async kill() {
        const deadline = Date.now() + KILL_WAIT_MS;
        for (;;) {
          const pids = processes();
          if (!pids.length) return Date.now();
          if (Date.now() > deadline) throw new Error(`processes ${pids.join(', ')} in ${name} outlived SIGKILL`);
          killAll(pids);
          await delay(20);
        }
      },
      cutLink: () => void ip('link', 'set', hostEnd, 'down'),
      restoreLink: () => void ip('link', 'set', hostEnd, 'up'),
    };
  };

  const removeMachines = async () => {
    for (const namespace of namespaces.splice(0)) removeNamespace(namespace);
    // The cgroups of runs whose keepers were killed with their machine (nothing is left in them).
    for (const { runsDir } of machines.splice(0)) {
      // <runs dir>/server-<namespace id>/<queue>/<run> (activities/runs-layout.ts)
      for (const server of await readdir(runsDir).catch(() => [] as string[])) {
        for (const queue of await readdir(path.join(runsDir, server)).catch(() => [] as string[])) {
          for (const runKey of await readdir(path.join(runsDir, server, queue)).catch(() => [] as string[])) {
            await releaseRunCgroup(await new RunFiles(path.join(runsDir, server, queue, runKey)).runId());
          }
        }
      }
    }
  };

  return {
    hostIp,
    addMachine,
    removeMachines,
    async teardown() {
      await removeMachines();
      removeLink(bridge);
      sweep((name) => name.startsWith(ownPrefix));
    },
  };
}
