/** `server`: Temporal's dev server in the foreground (SQLite file, Web UI, staged's retention, search attributes). */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { loadConnectionConfig } from '../../connection.js';
import { defaultDevServerOptions, devServerArgs, waitForDevServer } from '../../server/dev-server.js';
import { findTemporalCli } from '../../server/temporal-cli.js';
import { formatDuration } from '../../shared/duration.js';
import type { OptionsOf } from '../command-table.js';
import { inForeground } from '../foreground.js';
import { resolveWorkDir } from '../invocation.js';

export async function run(_args: string[], options: OptionsOf<'server'>): Promise<number> {
  const workDir = resolveWorkDir(options.workDir);
  const dbFile = path.resolve(workDir, options.dbFile ?? defaultDevServerOptions(workDir).dbFile);
  const server = { port: options.port, uiPort: options.uiPort, metricsPort: options.metricsPort, dbFile };
  const temporalCli = await findTemporalCli();
  await mkdir(path.dirname(dbFile), { recursive: true });
  const address = `localhost:${server.port}`;
  const announce = () =>
    waitForDevServer(address, loadConnectionConfig().namespace, { retentionMs: options.retention }).then(
      () =>
        console.log(
          `[OK] Temporal dev server on ${address}, Web UI http://localhost:${server.uiPort}, ` +
            `metrics http://localhost:${server.metricsPort}/metrics, ` +
            `DB ${dbFile}, retention ${formatDuration(options.retention)}`,
        ),
      (err: Error) => console.error(`[WARN] ${err.message}`),
    );
  return inForeground(temporalCli, devServerArgs(server), workDir, announce);
}
