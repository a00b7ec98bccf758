/**
 * Processes staged starts in the background, tracked by pid files: the embedded dev server and
 * worker (`.staged/`), and the cluster's PostgreSQL, Temporal server and Web UI (`.staged/cluster/`).
 */
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { killGroup, groupAlive, signalGroup } from './process-group.js';
import { stagedHome } from '../paths.js';

type BackgroundService = 'server' | 'worker';

/** Where a background process keeps its pid and its output. */
export interface ServiceFiles {
  pidFile: string;
  logFile: string;
}

export function serviceFiles(workDir: string, service: BackgroundService): ServiceFiles {
  return {
    pidFile: path.join(stagedHome(workDir), `${service}.pid`),
    logFile: path.join(stagedHome(workDir), `${service}.log`),
  };
}

export function logFileOf(workDir: string, service: BackgroundService): string {
  return serviceFiles(workDir, service).logFile;
}

export function runningPidOf(files: ServiceFiles): number | undefined {
  try {
    const pid = Number(readFileSync(files.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && groupAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

interface DetachedOptions {
  cwd: string;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
}

/** Starts `file args` detached, as its own process group, with output appended to its log file. */
export function startDetached(files: ServiceFiles, file: string, args: string[], options: DetachedOptions): number {
  mkdirSync(path.dirname(files.pidFile), { recursive: true });
  mkdirSync(path.dirname(files.logFile), { recursive: true });
  const log = openSync(files.logFile, 'a');
  // A plain detached spawn: these services must outlive the command that started them.
  const subprocess = spawn(file, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    detached: true,
    stdio: ['ignore', log, log],
  });
  subprocess.unref();
  const pid = subprocess.pid;
  if (pid === undefined) throw new Error(`could not start ${file}`);
  writeFileSync(files.pidFile, `${pid}\n`);
  return pid;
}

interface StopOptions {
  graceMs?: number;
  /** Sent to the group's leader alone first (PostgreSQL stops its own children); else SIGTERM to the group. */
  leaderSignal?: NodeJS.Signals;
}

/** Stops a background process with its whole process group; true when one was running. */
export async function stopDetached(files: ServiceFiles, { graceMs = 10_000, leaderSignal }: StopOptions = {}) {
  const pid = runningPidOf(files);
  rmSync(files.pidFile, { force: true });
  if (pid === undefined) return false;
  if (leaderSignal) {
    process.kill(pid, leaderSignal);
    const deadline = Date.now() + graceMs;
    while (groupAlive(pid) && Date.now() < deadline) await delay(50);
  }
  if (signalGroup(pid, 0)) await killGroup(pid, graceMs);
  while (groupAlive(pid)) await delay(50);
  return true;
}

/** Starts `file args` detached, with output appended to `.staged/<service>.log`. */
export function startInBackground(
  workDir: string,
  service: BackgroundService,
  file: string,
  args: string[],
  env: Record<string, string> = {},
): number {
  return startDetached(serviceFiles(workDir, service), file, args, { cwd: workDir, env });
}

/** Stops a background service; true when one was running. */
export async function stopBackground(workDir: string, service: BackgroundService, graceMs = 10_000): Promise<boolean> {
  return stopDetached(serviceFiles(workDir, service), { graceMs });
}
