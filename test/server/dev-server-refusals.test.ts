/** A dev server that cannot start is refused at once, without a server ever answering. */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

// Not checked before the start: the server itself fails to bind it.
test("a metrics port taken by something else is refused as taken, from the server's own failure", async () => {
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const { port } = squatter.address() as { port: number };
  try {
    const server = await devServerProcess({ metricsPort: port });
    servers.push(server);
    await expect(server.start()).rejects.toBeInstanceOf(PortTakenError);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
});

test('a port taken under a server starting, said at the head of a long panic, is still refused as taken', async () => {
  // As the CLI panics when an internal port it picked is taken meanwhile: the line comes before ~8 KB of stack.
  const dir = await mkdtemp(path.join(tmpdir(), 'staged-panicking-cli-'));
  const cli = path.join(dir, 'temporal');
  const frame =
    '\tgo.uber.org/dig.paramList.BuildList(...) /root/go/pkg/mod/go.uber.org/dig@v1.18.1/param.go:151 +0xad';
  await writeFile(
    cli,
    '#!/bin/sh\necho "panic: listen tcp 127.0.0.1:7235: bind: address already in use" >&2\n' +
      `i=0; while [ $i -lt 100 ]; do echo '${frame}' >&2; i=$((i+1)); done\nexit 2\n`,
  );
  await chmod(cli, 0o755);
  const server = await devServerProcess({ temporalCli: cli });
  servers.push(server);
  await expect(server.start()).rejects.toBeInstanceOf(PortTakenError);
});

test('a server that cannot start fails at once, saying how it exited', async () => {
  const server = await devServerProcess({ temporalCli: '/bin/false' });
  servers.push(server);
  const startingAt = Date.now();

  await expect(server.start()).rejects.toThrow(/exited \(1\) before it answered/);
  expect(Date.now() - startingAt).toBeLessThan(30_000);
});
