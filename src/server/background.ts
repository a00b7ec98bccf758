/** Processes staged starts in the background (embedded dev server and worker), tracked by pid files in `.staged/`. */
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { killGroup, groupAlive } from './process-group.js';
import { stagedHome } from '../paths.js';

export type BackgroundService = 'server' | 'worker';

export function pidFile(workDir: string, service: BackgroundService): string {
  return path.join(stagedHome(workDir), `${service}.pid`);
}

export function logFileOf(workDir: string, service: BackgroundService): string {
  return path.join(stagedHome(workDir), `${service}.log`);
}

export function runningPid(workDir: string, service: BackgroundService): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(workDir, service), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && groupAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Starts `file args` detached, as its own process group, with output appended to `.staged/<service>.log`. */
export function startInBackground(workDir: string, service: BackgroundService, file: string, args: string[]): number {
  mkdirSync(stagedHome(workDir), { recursive: true });
  const log = openSync(logFileOf(workDir, service), 'a');
  // A plain detached spawn: these services must outlive the command that started them.
  const subprocess = spawn(file, args, { cwd: workDir, detached: true, stdio: ['ignore', log, log] });
  subprocess.unref();
  const pid = subprocess.pid;
  if (pid === undefined) throw new Error(`could not start ${service}: ${file}`);
  writeFileSync(pidFile(workDir, service), `${pid}\n`);
  return pid;
}

/** Stops a background service; true when one was running. */
export async function stopBackground(workDir: string, service: BackgroundService, graceMs = 10_000): Promise<boolean> {
  const pid = runningPid(workDir, service);
  rmSync(pidFile(workDir, service), { force: true });
  if (pid === undefined) return false;
  await killGroup(pid, graceMs);
  while (groupAlive(pid)) await delay(50);
  return true;
}
