/** Free ports for a cluster of one's own beside others on this machine (tests, the bench). */
import { portFree } from '../server/ports.js';
import { MAX_MEMBERSHIP_PORT, SERVER_PORT_COUNT } from './layout.js';

/** A frontend port with the nine above it free too (the server takes ten), all under MAX_MEMBERSHIP_PORT. */
export async function freeServerPort(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * (MAX_MEMBERSHIP_PORT - 20_000 - SERVER_PORT_COUNT));
    const ports = Array.from({ length: SERVER_PORT_COUNT }, (_, index) => base + index);
    if ((await Promise.all(ports.map((port) => portFree(port, '127.0.0.1')))).every(Boolean)) return base;
  }
}
