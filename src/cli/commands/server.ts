/** `server`: Temporal's dev server in the foreground (SQLite file, Web UI, staged's retention, search attributes). */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { loadConnectionConfig } from '../../connection.js';
import { defaultDevServerOptions, devServerArgs, waitForDevServer } from '../../server/dev-server.js';
import { metricsPortFor } from '../../server/ports.js';
import { writeServerRecord } from '../../server/server-record.js';
import { findTemporalCli } from '../../server/temporal-cli.js';
import { formatDuration } from '../../parse/duration.js';
import type { OptionsOf } from '../command-table.js';
import { inForeground, type ExitOf } from '../foreground.js';
import { resolveWorkDir } from '../invocation.js';

export async function run(_args: string[], options: OptionsOf<'server'>): Promise<number> {
  const workDir = resolveWorkDir(options.workDir);
  const dbFile = path.resolve(workDir, options.dbFile ?? defaultDevServerOptions(workDir).dbFile);
  const metricsPort = await metricsPortFor(options.metricsPort);
  const server = { port: options.port, uiPort: options.uiPort, metricsPort, dbFile };
  const temporalCli = await findTemporalCli();
  await mkdir(path.dirname(dbFile), { recursive: true });
  const address = `localhost:${server.port}`;
  writeServerRecord(workDir, { address, uiPort: server.uiPort, metricsPort });
  const announce = (exited: ExitOf) =>
    waitForDevServer(address, loadConnectionConfig().namespace, {
      retentionMs: options.retention,
      exited: () => {
        const how = exited();
        return how && `the dev server ${how} before it answered at ${address} (its output is above)`;
      },
      progress: (line) => console.log(line),
    }).then(
      () =>
        console.log(
          `[OK] Temporal dev server on ${address}, Web UI http://localhost:${server.uiPort}, ` +
            `metrics http://localhost:${metricsPort}/metrics, ` +
            `DB ${dbFile}, retention ${formatDuration(options.retention)}`,
        ),
      (err: Error) => console.error(`staged: ${err.message}`),
    );
  return inForeground(temporalCli, devServerArgs(server), workDir, announce);
}
