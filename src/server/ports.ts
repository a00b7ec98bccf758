/** Ports: the dev server's fixed defaults, free ones when a default is taken, and whether a port is free. */
import { createServer } from 'node:net';

/**
 * The dev server's metrics port: in the pattern of its gRPC (7233) and Web UI (8233) ports. Without
 * it the server picks a random one, which nothing could be told to scrape.
 */
export const DEV_SERVER_METRICS_PORT = 9233;

/** A port nothing listens on now (on 127.0.0.1). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** True when `port` can be listened on at `host`; without a host, on every address (as the dev server binds). */
export async function portFree(port: number, host?: string): Promise<boolean> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
  if (listening) await new Promise((resolve) => server.close(resolve));
  return listening;
}

/** The metrics port a dev server gets: the one given; else 9233 while it is free, else any free port. */
export async function metricsPortFor(given: number | undefined): Promise<number> {
  if (given !== undefined) return given;
  return (await portFree(DEV_SERVER_METRICS_PORT)) ? DEV_SERVER_METRICS_PORT : freePort();
}
