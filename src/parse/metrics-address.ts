/** A worker's `--metrics` address, checked before the SDK sees it (it takes an IP address and port only). */
import { isIP } from 'node:net';

/** `HOST:PORT` (an IP address, `[::1]:PORT`, or localhost), or a bare PORT on 127.0.0.1. */
export function parseMetricsAddress(text: string): string {
  const match = /^(?:(.*):)?(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65_535) throw new Error(`must be HOST:PORT or PORT (got "${text}")`);
  const host = match[1] === undefined || match[1] === 'localhost' ? '127.0.0.1' : match[1];
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (!isIP(bare)) throw new Error(`must name an IP address, like 127.0.0.1:9464 or 0.0.0.0:9464 (got "${text}")`);
  return isIP(bare) === 6 ? `[${bare}]:${port}` : `${bare}:${port}`;
}
