/** Ports: the dev server's fixed defaults, free ones when a default is taken, and whether a port is free. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
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

/** The state of a listening socket in /proc/net/tcp. */
const TCP_LISTEN = '0A';

/**
 * Whether process `pid` holds a socket listening on TCP `port` (Linux: /proc/net/tcp{,6} and /proc/<pid>/fd);
 * undefined when /proc cannot tell.
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  const inodes = new Set<string>();
  let tablesRead = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
      tablesRead++;
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== TCP_LISTEN) continue;
      if (parseInt(fields[1].split(':').pop()!, 16) === port) inodes.add(fields[9]);
    }
  }
  if (tablesRead === 0) return undefined;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? false : undefined; // gone; or hidden (hidepid)
  }
  return fds.some((fd) => {
    try {
      return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
    } catch {
      return false;
    }
  });
}
