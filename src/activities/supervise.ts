/**
 * Runs one process to its end: its own process group, output into the attempt's log, heartbeats,
 * a watchdog against worker death, and the whole tree killed on cancel, timeout or shutdown.
 */
import { hostname } from 'node:os';
import { finished } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Context } from '@temporalio/activity';
import { execa } from 'execa';
import { ProgressReader, type Progress } from '../shared/progress.js';
import type { RunHeartbeat } from '../shared/types.js';
import { AttemptLog } from './attempt-log.js';
import type { ExperimentCommand } from './command.js';
import { groupAlive, killGroup } from './process-group.js';
import { startWatchdog } from './watchdog.js';

export interface SuperviseOptions {
  cwd: string;
  env: Record<string, string>;
  log: AttemptLog;
  timeoutMs: number;
  killGraceMs: number;
  heartbeatEveryMs: number;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  spawnError?: string;
}

export async function superviseProcess(
  context: Context,
  command: ExperimentCommand,
  options: SuperviseOptions,
): Promise<ProcessOutcome> {
  const subprocess = execa(command.file, command.args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
  });
  const groupId = subprocess.pid;
  const details: RunHeartbeat = { groupId, host: hostname(), startedAt: Date.now() };
  if (subprocess.all) {
    subprocess.all.pipe(options.log);
    readProgress(subprocess.all, (progress) => {
      details.progress = progress;
      details.progressAt = Date.now();
      context.heartbeat(details); // the worker throttles what reaches the server
    });
  } else {
    options.log.end();
  }
  const watchdog = groupId === undefined ? undefined : startWatchdog(groupId, options.killGraceMs);

  let timedOut = false;
  let stopping: Promise<unknown> | undefined;
  const stop = () => {
    if (groupId !== undefined) stopping ??= killGroup(groupId, options.killGraceMs);
  };
  const heartbeat = setInterval(() => context.heartbeat(details), options.heartbeatEveryMs);
  const timeout = setTimeout(() => {
    timedOut = true;
    stop();
  }, options.timeoutMs);
  context.cancellationSignal.addEventListener('abort', stop);
  context.heartbeat(details);

  try {
    // Not `await subprocess` first: a grandchild holding stdout open would keep it pending forever.
    await Promise.race([new Promise((resolve) => subprocess.once('exit', resolve)), subprocess]);
    // Grandchildren may outlive the script; they belong to the run and go with it.
    if (groupId !== undefined && groupAlive(groupId)) stop();
    await stopping;
    const result = await subprocess;
    if (result.exitCode === undefined && !result.signal) {
      options.log.end(); // no output stream ever ends when the process never started
      const cause = result.cause instanceof Error ? result.cause.message : result.message;
      return { exitCode: null, signal: null, timedOut, spawnError: cause };
    }
    await finished(options.log).catch(() => undefined);
    return { exitCode: result.exitCode ?? null, signal: result.signal ?? null, timedOut };
  } finally {
    watchdog?.stop();
    clearInterval(heartbeat);
    clearTimeout(timeout);
    context.cancellationSignal.removeEventListener('abort', stop);
  }
}

function readProgress(output: NodeJS.ReadableStream, onChange: (progress: Progress) => void): void {
  const reader = new ProgressReader();
  const decoder = new StringDecoder('utf8');
  output.on('data', (chunk: Buffer) => {
    if (reader.feed(decoder.write(chunk)) && reader.progress) onChange({ ...reader.progress });
  });
}
