/** A dev server of a test's own, on a SQLite file, that the test can kill and start again. */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { devServerArgs, waitForDevServer } from '../../src/server/dev-server.js';
import { findTemporalCli } from '../../src/server/temporal-cli.js';
import { freePort } from './ports.js';

export interface OwnServer {
  address: string;
  /** Starts (or starts again) the server and resolves once it answers. */
  start(): Promise<void>;
  /** SIGKILLs it and resolves once it has exited. */
  kill(): Promise<void>;
}

export async function ownServer(dir: string): Promise<OwnServer> {
  await mkdir(path.join(dir, 'db'), { recursive: true });
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const temporal = await findTemporalCli({ build: false });
  const args = [
    ...devServerArgs({ port, uiPort: await freePort(), dbFile: path.join(dir, 'db', 'temporal.db') }),
    '--headless',
  ];
  let running: ReturnType<typeof execa> | undefined;
  return {
    address,
    async start() {
      running = execa(temporal, args, { reject: false, stdio: 'ignore' });
      await waitForDevServer(address, 'default');
    },
    async kill() {
      running?.kill('SIGKILL');
      await running;
      running = undefined;
    },
  };
}
