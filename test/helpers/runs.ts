/** Run directories on disk as a worker leaves them: with a real keeper, or in the state a keeper leaves. */
import path from 'node:path';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { once } from 'node:events';
import { keeperAlive, launchKeeper } from '../../src/machine/keeper-launch.js';
import { RunFiles, type RunExit, type RunSpec, type RunStarted } from '../../src/keeper/run-files.js';
import { until } from './processes.js';
import { requestStop } from '../../src/machine/stop-run.js';

export interface KeptRun {
  files: RunFiles;
  keeperPid: number;
  /** The run's output so far. */
  log(): Promise<string>;
  /** Resolves with the keeper's record once the run has ended. */
  exit(timeoutMs?: number): Promise<RunExit>;
}

const RUNNING_LINE = '[test] the script runs';

/** Claims `runsDir/runKey` and launches a real keeper running `/bin/sh args`, as a worker would. */
export async function launchRun(
  runsDir: string,
  runKey: string,
  args: string[],
  {
    overrides = {},
    env = {},
    binary,
  }: { overrides?: Partial<RunSpec>; env?: Record<string, string>; binary?: string } = {},
): Promise<{ files: RunFiles; spec: RunSpec; keeperPid: number }> {
  const files = RunFiles.of(runsDir, runKey);
  await files.claim();
  await files.renewLease(Date.now());
  const spec: RunSpec = {
    runId: `test-${runKey}-${Date.now()}`,
    file: '/bin/sh',
    args,
    cwd: files.dir,
    logFile: path.join(files.dir, 'run.log'),
    logLimitBytes: 1024 * 1024,
    timeoutMs: null,
    killGraceMs: 1_000,
    leaseTimeoutMs: 60_000,
    ...overrides,
  };
  const runEnv = { PATH: process.env.PATH!, ...env };
  const keeperPid = await launchKeeper(files, spec, runEnv, binary);
  return { files, spec, keeperPid };
}

/** The keeper's record of how the run ended, once it has one. */
export async function exitOf(files: RunFiles, timeoutMs = 20_000): Promise<RunExit> {
  let record: RunExit | undefined;
  await until(
    async () => (record = await files.readJson<RunExit>(files.exit)) !== undefined,
    timeoutMs,
    'the run to end',
  );
  return record!;
}

/**
 * Launches a real keeper for `script` (sh) in `runsDir/runKey`; resolves once the script runs. `binary`: another
 * build of the keeper than the one staged starts.
 */
export async function startKeptRun(
  runsDir: string,
  runKey: string,
  script: string,
  overrides: Partial<RunSpec> = {},
  env: Record<string, string> = {},
  binary?: string,
): Promise<KeptRun> {
  const { files, spec, keeperPid } = await launchRun(runsDir, runKey, ['-c', `echo '${RUNNING_LINE}'\n${script}`], {
    overrides,
    env,
    binary,
  });
  const log = async () => readFile(spec.logFile, 'utf8').catch(() => '');
  // Once the script runs, so that a test's stop finds it started.
  await until(async () => (await log()).includes(RUNNING_LINE), 20_000, 'the keeper to start its run');
  return {
    files,
    keeperPid,
    log,
    exit: (timeoutMs = 20_000) => exitOf(files, timeoutMs),
  };
}

/** Stops runs a test started (SIGTERM to their keepers) and waits until each has recorded its end. */
export async function stopKeptRuns(runs: KeptRun[]): Promise<void> {
  // Only a live keeper of that run: the pid of one that has exited may be another process's by now.
  for (const run of runs)
    if (keeperAlive(run.keeperPid, run.files)) await requestStop(run.files, run.keeperPid, 'cancelled');
  await Promise.all(runs.map((run) => run.exit()));
}

/** The live guard the keeper `keeperPid` started (keeper/guard.go: its child named staged-guard); undefined if none. */
export function guardOf(keeperPid: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (stat.includes('(staged-guard)') && Number(parent) === keeperPid && state !== 'Z') return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** The pid of a process that has exited: a keeper that is gone. */
export async function deadPid(): Promise<number> {
  const child = spawn('/bin/true');
  await once(child, 'exit');
  return child.pid!;
}

/** The directories of the runs a worker keeps under `runsRoot` (its `--runs-dir`), whatever the layout below it. */
export async function runDirsUnder(runsRoot: string, depth = 4): Promise<RunFiles[]> {
  const entries = await readdir(runsRoot, { withFileTypes: true }).catch(() => []);
  if (entries.some((entry) => entry.name === 'spec.json')) return [new RunFiles(runsRoot)];
  if (depth === 0) return [];
  const found = await Promise.all(
    entries
      .filter((entry) => entry.isDirectory())
      .map((entry) => runDirsUnder(path.join(runsRoot, entry.name), depth - 1)),
  );
  return found.flat();
}

/** The keeper of the one run started under `runsRoot`, once it has started its script. */
export async function keeperOfOnlyRun(runsRoot: string): Promise<{ files: RunFiles; started: RunStarted }> {
  let found: { files: RunFiles; started: RunStarted } | undefined;
  await until(
    async () => {
      const [files] = await runDirsUnder(runsRoot);
      const started = files && (await files.readJson<RunStarted>(files.state));
      if (started) found = { files, started };
      return found !== undefined;
    },
    30_000,
    'the run to be started by its keeper',
  );
  return found!;
}

/**
 * SIGKILLs a run's keeper and its guard together, as systemd's SIGKILL after TimeoutStopSec does: both are stopped
 * first, so that neither sees the other die and nothing of the run's own is left to stop it.
 */
export function killKeeperWithGuard(keeperPid: number): void {
  const guard = guardOf(keeperPid)!;
  for (const signal of ['SIGSTOP', 'SIGKILL'] as const) for (const pid of [keeperPid, guard]) process.kill(pid, signal);
}

/** The keeper of the run whose files these are, from its state.json, killed with its guard (killKeeperWithGuard). */
export async function killKeeperAndGuardOf(files: RunFiles): Promise<void> {
  const { keeperPid } = (await files.readJson<{ keeperPid: number }>(files.state))!;
  killKeeperWithGuard(keeperPid);
}
