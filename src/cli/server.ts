/** `server` runs Temporal's dev server in the foreground, `worker` a worker; `down` stops what `submit` started in the background. */
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import { loadConnectionConfig } from '../connection.js';
import { stopBackground } from '../server/background.js';
import { defaultDevServerOptions, devServerArgs, waitForDevServer } from '../server/dev-server.js';
import { parseRetention } from '../server/retention.js';
import { findTemporalCli } from '../server/temporal-cli.js';
import { formatDuration } from '../shared/duration.js';
import { workerCommand } from '../worker-process.js';
import { EXIT } from './errors.js';
import { userDirectory } from './invocation.js';

export interface ServerFlags {
  port: number;
  uiPort: number;
  dbFile?: string;
  retention?: string;
  workDir: string;
}

/** Runs `file args` in the foreground with this terminal, passing Ctrl-C and SIGTERM on; its exit is ours. */
async function inForeground(file: string, args: string[], cwd: string, whenStarted?: () => Promise<void>): Promise<number> {
  const child = execa(file, args, { stdio: 'inherit', reject: false, cwd });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const started = whenStarted?.();
  const result = await child;
  await started;
  return result.exitCode === 0 || result.signal ? EXIT.ok : EXIT.failed;
}

export async function runServer(flags: ServerFlags): Promise<number> {
  const retentionMs = parseRetention(flags.retention, '--retention');
  const dbFile = path.resolve(flags.workDir, flags.dbFile ?? defaultDevServerOptions(flags.workDir).dbFile);
  const options = { port: flags.port, uiPort: flags.uiPort, dbFile };
  const temporalCli = await findTemporalCli();
  await mkdir(path.dirname(dbFile), { recursive: true });
  return inForeground(temporalCli, devServerArgs(options), flags.workDir, () =>
    waitForDevServer(`localhost:${options.port}`, loadConnectionConfig().namespace, { retentionMs }).then(
      () =>
        console.log(
          `[OK] Temporal dev server on localhost:${options.port}, Web UI http://localhost:${options.uiPort}, ` +
            `DB ${dbFile}, retention ${formatDuration(retentionMs)}`,
        ),
      (err: Error) => console.error(`[WARN] ${err.message}`),
    ),
  );
}

/** `staged worker …`: the worker program, with the same heap cap as `npm run worker`. */
export async function runWorker(args: string[]): Promise<number> {
  return inForeground(process.execPath, workerCommand(args), userDirectory());
}

export async function down(workDir: string): Promise<number> {
  const worker = await stopBackground(workDir, 'worker');
  const server = await stopBackground(workDir, 'server');
  console.log(
    worker || server
      ? `[OK] Stopped ${[worker && 'the background worker', server && 'the dev server'].filter(Boolean).join(' and ')}.`
      : `Nothing staged started is running in ${workDir}.`,
  );
  return EXIT.ok;
}
