/**
 * The embedded dev server: started in the background by `submit`, waited for as long as its process lives,
 * and reported at once, with the tail of its log, when it exits before it answers.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { groupAlive } from './process-group.js';
import { logFileOf, serviceFiles, startInBackground, stopBackground } from './background.js';
import { devServerArgs, waitForDevServer, type DevServerOptions } from './dev-server.js';
import { logSize, logTail } from './log-tail.js';
import { listensOn } from './ports.js';
import { removeServerRecord, writeServerRecord } from './server-record.js';

interface BackgroundServerStart {
  workDir: string;
  temporalCli: string;
  /** The ports and DB; the metrics port already chosen (ports.ts, `metricsPortFor`). */
  server: DevServerOptions;
  namespace: string;
  retentionMs?: number;
  /** Where the start and the progress of the wait are told. */
  log: (line: string) => void;
  progressEveryMs?: number;
}

/**
 * The server that answered is not the one started here: another took its port first (another project's `submit`
 * started at the same time); the one started here was stopped and its pid file and record removed.
 */
export class ServerTakenMeanwhileError extends Error {}

/** Starts the dev server in the background and resolves once it answers with staged's settings applied. */
export async function startBackgroundDevServer(start: BackgroundServerStart): Promise<void> {
  const { workDir, server } = start;
  const logFile = logFileOf(workDir, 'server');
  mkdirSync(path.dirname(server.dbFile), { recursive: true });
  const logStart = logSize(logFile);
  const pid = startInBackground(workDir, 'server', start.temporalCli, devServerArgs(server));
  const address = `localhost:${server.port}`;
  writeServerRecord(workDir, { address, uiPort: server.uiPort, metricsPort: server.metricsPort });
  start.log(
    `[OK] Started Temporal's dev server in the background (pid ${pid}): Web UI http://localhost:${server.uiPort}, ` +
      `metrics http://localhost:${server.metricsPort}/metrics (log ${logFile})`,
  );
  const exited = () => {
    if (groupAlive(pid)) return undefined;
    const tail = logTail(serviceFiles(workDir, 'server').logFile, logStart);
    const ends = tail ? `; its log ends:\n${tail}` : '';
    return `the dev server (pid ${pid}) exited before it answered at ${address}${ends}`;
  };
  await waitForDevServer(address, start.namespace, {
    retentionMs: start.retentionMs,
    exited,
    progress: start.log,
    progressEveryMs: start.progressEveryMs,
  });
  // Another server may have taken the port between the caller's check and this start: it answered, not this one
  if (listensOn(pid, server.port) === false) {
    await stopBackground(workDir, 'server');
    removeServerRecord(workDir);
    throw new ServerTakenMeanwhileError(
      `the server answering at ${address} is not the one started here (pid ${pid}, now stopped): another ` +
        `took port ${server.port} first`,
    );
  }
}
