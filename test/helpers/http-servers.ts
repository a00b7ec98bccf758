/** HTTP servers that tests start: simulated APIs and agents. */
import type { Server } from 'node:http';

/** Closes `server`, kept-alive connections too, and resolves once it is closed; nothing when there is none. */
export async function closeHttpServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
