/** A dev server of a test's own, on a SQLite file, that the test can kill and start again. */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { devServerProcess, type DevServerProcess } from '../../src/server/dev-server-process.js';

/** The SQLite file of `ownServer(dir)`. */
export function ownServerDbFile(dir: string): string {
  return path.join(dir, 'db', 'temporal.db');
}

/** Not started yet: its address is known first, so that a worker can be started before it. */
export async function ownServer(dir: string): Promise<DevServerProcess> {
  await mkdir(path.join(dir, 'db'), { recursive: true });
  return devServerProcess({ dbFile: ownServerDbFile(dir) });
}

/** Starts `devServer` and runs `body` with a client of it; then closes the client and kills the server. */
export async function withStartedServer<T>(
  devServer: DevServerProcess,
  body: (client: Client) => Promise<T>,
): Promise<T> {
  try {
    await devServer.start();
    const connection = await Connection.connect({ address: devServer.address });
    try {
      return await body(new Client({ connection }));
    } finally {
      await connection.close();
    }
  } finally {
    await devServer.kill();
  }
}
