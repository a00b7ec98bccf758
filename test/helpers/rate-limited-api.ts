/** A simulated rate-limited HTTP API on 127.0.0.1: a sliding window, 429 with Retry-After, and a log of every call. */
import { once } from 'node:events';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { ApiThreadData } from './rate-limited-api-thread.js';

export interface RateLimitedApiOptions {
  /** Most requests accepted in any window of `windowMs`, counted at arrival. */
  limit: number;
  windowMs: number;
  /** Fixed Retry-After on a 429; by default the seconds until the oldest accepted request leaves the window. */
  retryAfterSeconds?: number;
  /** How long an idle kept-alive connection stays open (Node's default is 5 s). */
  keepAliveTimeoutMs?: number;
  /**
   * A kept-alive connection reused after this long idle is closed without an answer, as by a server whose own close
   * of it crossed the request on the way: the client could not have seen it closed.
   */
  dropsReusedAfterIdleMs?: number;
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

/**
 * The API runs on a thread of its own (rate-limited-api-thread.ts); its log comes back over a message port, read
 * synchronously, so `requests()` holds every request answered so far.
 */
export class RateLimitedApi {
  private readonly options: RateLimitedApiOptions;
  private readonly limit = new Int32Array(new SharedArrayBuffer(4));
  private readonly log: ApiRequest[] = [];
  private logPort?: MessagePort;
  private thread?: Worker;
  private listening?: number;

  constructor(options: RateLimitedApiOptions) {
    this.options = options;
    Atomics.store(this.limit, 0, options.limit);
  }

  async start(): Promise<{ port: number }> {
    const { port1, port2 } = new MessageChannel();
    const data: ApiThreadData = {
      windowMs: this.options.windowMs,
      retryAfterSeconds: this.options.retryAfterSeconds,
      keepAliveTimeoutMs: this.options.keepAliveTimeoutMs,
      dropsReusedAfterIdleMs: this.options.dropsReusedAfterIdleMs,
      noRetryAfter: this.options.noRetryAfter ?? false,
      host: this.options.host ?? '127.0.0.1',
      limit: this.limit,
      log: port2,
    };
    const thread = new Worker(new URL('./rate-limited-api-thread.js', import.meta.url), {
      workerData: data,
      transferList: [port2],
    });
    this.thread = thread;
    this.logPort = port1;
    const [message] = (await Promise.race([
      once(thread, 'message'),
      once(thread, 'error').then(([err]) => Promise.reject(err as Error)),
    ])) as [{ port: number }];
    this.listening = message.port;
    return { port: message.port };
  }

  async stop(): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    if (!thread) return;
    this.drain();
    const exited = once(thread, 'exit');
    thread.postMessage('stop');
    await exited;
    this.drain();
    this.logPort?.close();
  }

  /** The real limit from now on, lower than the one declared to staged: the API's undocumented limit. */
  setLimit(limit: number): void {
    Atomics.store(this.limit, 0, limit);
  }

  /** The port it listens on, once started. */
  get port(): number {
    return this.listening!;
  }

  requests(): ApiRequest[] {
    this.drain();
    return [...this.log];
  }

  rejections(): ApiRequest[] {
    return this.requests().filter((entry) => !entry.accepted);
  }

  /** The most accepted requests in any window of `windowMs`, from the log. */
  maxInAnyWindow(windowMs: number): number {
    return maxInWindow(
      this.requests()
        .filter((entry) => entry.accepted)
        .map((entry) => entry.at),
      windowMs,
    );
  }

  private drain(): void {
    if (!this.logPort) return;
    for (let next = receiveMessageOnPort(this.logPort); next; next = receiveMessageOnPort(this.logPort)) {
      this.log.push(next.message as ApiRequest);
    }
  }
}
