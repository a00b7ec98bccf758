/** `server` runs Temporal's dev server in the foreground; `down` stops what `submit` started in the background. */
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import { loadConnectionConfig } from '../connection.js';
import { stopBackground } from '../server/background.js';
import { devServerArgs, waitForDevServer, type DevServerOptions } from '../server/dev-server.js';
import { findTemporalCli } from '../server/temporal-cli.js';
import { EXIT } from './errors.js';

export async function runServer(options: DevServerOptions): Promise<number> {
  const temporalCli = await findTemporalCli();
  await mkdir(path.dirname(options.dbFile), { recursive: true });
  const server = execa(temporalCli, devServerArgs(options), { stdio: 'inherit', reject: false });
  const forward = (signal: NodeJS.Signals) => server.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const ready = waitForDevServer(`localhost:${options.port}`, loadConnectionConfig().namespace).then(
    () => console.log(`[OK] Temporal dev server on localhost:${options.port}, Web UI http://localhost:${options.uiPort}, DB ${options.dbFile}`),
    (err: Error) => console.error(`[WARN] ${err.message}`),
  );
  const result = await server;
  await ready;
  return result.exitCode === 0 || result.signal ? EXIT.ok : EXIT.failed;
}

export async function down(workDir: string): Promise<number> {
  const worker = await stopBackground(workDir, 'worker');
  const server = await stopBackground(workDir, 'server');
  console.log(
    worker || server
      ? `[OK] Stopped ${[worker && 'the background worker', server && 'the dev server'].filter(Boolean).join(' and ')}.`
      : 'Nothing staged started is running.',
  );
  return EXIT.ok;
}
