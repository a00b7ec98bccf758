/** Real worker and CLI processes for crash tests, and what `ps` says about the processes tests start. */
import { cp, mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa, execaSync, type ResultPromise } from 'execa';
import { WORKER_SCRIPT, workerCommand } from '../../src/cli/worker-command.js';

export const CLI = fileURLToPath(new URL('../../src/client.js', import.meta.url));

type WorkerSubprocess = ResultPromise<{ reject: false; stdout: 'pipe'; stderr: 'inherit'; buffer: false }>;

/** Wrapped, since an awaited subprocess would wait for it to exit. */
export interface WorkerProcess {
  subprocess: WorkerSubprocess;
  pid: number;
  /** Every line it has printed on stdout so far. */
  output: string[];
  kill(signal: NodeJS.Signals): void;
  exited(): Promise<number | undefined>;
}

/** How a worker process is launched: through a command that runs it elsewhere (another machine's namespaces). */
export interface WorkerLaunch {
  /** Runs `node worker.js …` as its last arguments, e.g. `nsenter --net=… unshare --uts …`. */
  prefix?: string[];
  /** Another install's worker.js (`installCopy()`), instead of this one's. */
  script?: string;
  /** The directories it serves (`--allow-dir`); default: the temporary directory, where tests put theirs. */
  allowDirs?: string[];
  /** In a process group of its own, so that a test can SIGKILL the group (`process.kill(-pid)`). */
  ownGroup?: boolean;
}

/** Starts `npm run worker`'s program and resolves once it is about to poll. */
export async function spawnWorker(
  address: string,
  taskQueue: string,
  slots: number,
  extraArgs: string[] = [],
  { prefix = [], script = WORKER_SCRIPT, allowDirs = [tmpdir()], ownGroup = false }: WorkerLaunch = {},
): Promise<WorkerProcess> {
  const command = [
    ...prefix,
    process.execPath,
    ...workerCommand(['--slots', String(slots), '--allow-dir', ...allowDirs, ...extraArgs]).map((arg) =>
      arg === WORKER_SCRIPT ? script : arg,
    ),
  ];
  const worker = execa(command[0], command.slice(1), {
    env: { TEMPORAL_ADDRESS: address, STAGED_TASK_QUEUE: taskQueue, STAGED_LOG_LEVEL: 'WARN' },
    reject: false,
    stdout: 'pipe',
    stderr: 'inherit',
    buffer: false,
    detached: ownGroup,
  }) as WorkerSubprocess;
  const lines = createInterface({ input: worker.stdout });
  const output: string[] = [];
  lines.on('line', (line) => output.push(line));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not start within 60s')), 60_000);
    lines.on('line', (line) => {
      if (line.startsWith('staged worker:')) {
        clearTimeout(timer);
        resolve();
      }
    });
    worker.once('exit', () => reject(new Error('worker exited before it started')));
  });
  worker.stdout.resume();
  return {
    subprocess: worker,
    pid: worker.pid!,
    output,
    kill: (signal) => worker.kill(signal),
    exited: async () => (await worker).exitCode,
  };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie has exited; only its parent has not collected it yet.
  const state = execaSync('ps', ['-o', 'stat=', '-p', String(pid)], { reject: false });
  return state.exitCode === 0 && !String(state.stdout).trim().startsWith('Z');
}

/** The docs' promise: a run's processes are gone within 2 s of its end (cancel, timeout, exit, abandonment). */
export const GONE_WITHIN_MS = 2_000;
/** Added to a bound the docs promise: a loaded machine (two busy loops on two cores) is slow, not wrong. */
export const LOAD_MARGIN_MS = 10_000;

/** Polls until none of `pids` is alive; returns how long that took, or undefined after `timeoutMs`. */
export async function waitUntilDead(pids: number[], timeoutMs: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started <= timeoutMs) {
    if (!pids.some(pidAlive)) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

export async function until(
  predicate: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts worker processes for a test file's tests; each is SIGKILLed when its test ends. */
export function workerProcessesPerTest() {
  const started: WorkerProcess[] = [];
  afterEach(() => {
    for (const worker of started.splice(0)) worker.kill('SIGKILL');
  });
  return async (
    address: string,
    taskQueue: string,
    slots: number,
    extraArgs: string[] = [],
    launch: WorkerLaunch = {},
  ): Promise<WorkerProcess> => {
    const worker = await spawnWorker(address, taskQueue, slots, extraArgs, launch);
    started.push(worker);
    return worker;
  };
}

/**
 * A copy of this build in a directory of its own, as a second install (another clone, a new version) is:
 * its own dist/src, workflow bundle and keeper; the packages are this one's.
 */
export async function installCopy(): Promise<{ workerScript: string; keeperBinary: string }> {
  const root = await mkdtemp(path.join(tmpdir(), 'staged-install-copy-'));
  const dist = fileURLToPath(new URL('../../', import.meta.url));
  const project = path.dirname(dist.replace(/\/$/, ''));
  await cp(path.join(dist, 'src'), path.join(root, 'dist', 'src'), { recursive: true });
  await cp(path.join(dist, 'workflow-bundle.js'), path.join(root, 'dist', 'workflow-bundle.js'));
  await cp(path.join(dist, 'keeper'), path.join(root, 'dist', 'keeper'), { recursive: true });
  await cp(path.join(project, 'package.json'), path.join(root, 'package.json'));
  await symlink(path.join(project, 'node_modules'), path.join(root, 'node_modules'));
  return {
    workerScript: path.join(root, 'dist', 'src', 'worker.js'),
    keeperBinary: path.join(root, 'dist', 'keeper', 'staged-keeper'),
  };
}
