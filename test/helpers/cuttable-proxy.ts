/** A TCP proxy in front of the Temporal server whose link a test can cut: a network partition for one worker. */
import { createServer, connect, type Socket } from 'node:net';

export interface CuttableProxy {
  address: string;
  /** Drops every connection and refuses new ones; the server stays up for everyone else. */
  cut(): Promise<void>;
}

/** `listenHost`: where it listens, e.g. the host side of a test network of machines (machines.ts). */
export async function cuttableProxy(target: string, listenHost = '127.0.0.1'): Promise<CuttableProxy> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createServer((client) => {
    const upstream = connect(port, host === 'localhost' ? '127.0.0.1' : host);
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  const { port: own } = server.address() as { port: number };
  return {
    address: `${listenHost}:${own}`,
    async cut() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
