/** A simulated rate-limited HTTP API on 127.0.0.1: a sliding window, 429 with Retry-After, and a log of every call. */
import { createServer, type Server } from 'node:http';
import { closeHttpServer } from './http-servers.js';

export interface RateLimitedApiOptions {
  /** Most requests accepted in any window of `windowMs`, counted at arrival. */
  limit: number;
  windowMs: number;
  /** Fixed Retry-After on a 429; by default the seconds until the oldest accepted request leaves the window. */
  retryAfterSeconds?: number;
  /** How long an idle kept-alive connection stays open (Node's default is 5 s). */
  keepAliveTimeoutMs?: number;
  /** A 429 without a Retry-After header, as some APIs answer. */
  noRetryAfter?: boolean;
  /** The address to listen on (default 127.0.0.1; `::1` for IPv6). */
  host?: string;
}

export interface ApiRequest {
  /** Arrival, epoch milliseconds. */
  at: number;
  accepted: boolean;
  path: string;
}

/** The most `times` (epoch ms) falling in one window [t, t + windowMs). */
export function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while (sorted[last] - sorted[first] >= windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

export class RateLimitedApi {
  private limit: number;
  private readonly windowMs: number;
  private readonly retryAfterSeconds?: number;
  private readonly keepAliveTimeoutMs?: number;
  private readonly noRetryAfter: boolean;
  private readonly host: string;
  private readonly log: ApiRequest[] = [];
  private server?: Server;

  constructor(options: RateLimitedApiOptions) {
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs;
    this.noRetryAfter = options.noRetryAfter ?? false;
    this.host = options.host ?? '127.0.0.1';
  }

  async start(): Promise<{ port: number }> {
    const server = createServer((request, response) => {
      const at = Date.now();
      const inWindow = this.log.filter((entry) => entry.accepted && entry.at > at - this.windowMs);
      const accepted = inWindow.length < this.limit;
      this.log.push({ at, accepted, path: request.url ?? '' });
      request.resume();
      if (accepted) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ ok: true, n: this.log.length, path: request.url }));
        return;
      }
      const untilRoom = inWindow.length ? Math.ceil((inWindow[0].at + this.windowMs - at) / 1000) : 1;
      const retryAfter = this.noRetryAfter
        ? {}
        : { 'retry-after': String(this.retryAfterSeconds ?? Math.max(1, untilRoom)) };
      response.writeHead(429, { 'content-type': 'application/json', ...retryAfter });
      response.end(JSON.stringify({ error: 'rate limited' }));
    });
    if (this.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = this.keepAliveTimeoutMs;
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, this.host, resolve));
    return { port: (server.address() as { port: number }).port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await closeHttpServer(server);
  }

  /** The real limit from now on, lower than the one declared to staged: the API's undocumented limit. */
  setLimit(limit: number): void {
    this.limit = limit;
  }

  /** The port it listens on, once started. */
  get port(): number {
    return (this.server!.address() as { port: number }).port;
  }

  requests(): ApiRequest[] {
    return [...this.log];
  }

  rejections(): ApiRequest[] {
    return this.log.filter((entry) => !entry.accepted);
  }

  /** The most accepted requests in any window of `windowMs`, from the log. */
  maxInAnyWindow(windowMs: number): number {
    return maxInWindow(
      this.log.filter((entry) => entry.accepted).map((entry) => entry.at),
      windowMs,
    );
  }
}
