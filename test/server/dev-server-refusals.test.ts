/** A dev server that cannot start is refused at once, without a server ever answering. */
import { createServer } from 'node:net';
import { devServerProcess, PortTakenError, type DevServerProcess } from '../../src/server/dev-server-process.js';

const servers: DevServerProcess[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.kill()));
});

test('a port something else listens on is refused as taken, before anything is started', async () => {
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const { port } = squatter.address() as { port: number };
  try {
    const server = await devServerProcess({ port });
    servers.push(server);
    await expect(server.start()).rejects.toBeInstanceOf(PortTakenError);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});

test('a server that cannot start fails at once, saying how it exited', async () => {
  const server = await devServerProcess({ temporalCli: '/bin/false' });
  servers.push(server);
  const startingAt = Date.now();

  await expect(server.start()).rejects.toThrow(/exited \(1\) before it answered/);
  expect(Date.now() - startingAt).toBeLessThan(30_000);
});
