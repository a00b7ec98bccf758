/**
 * The simulated API's server, on a thread of its own: it stamps each request when it arrives, however busy the
 * test's own thread is (the worker, its quota agent and jest share that one), as a real API's clock would.
 */
import { createServer } from 'node:http';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { closeHttpServer } from './http-servers.js';

/** What the test's thread hands over: the options, the log's port, and the live limit (Int32 at index 0). */
export interface ApiThreadData {
  windowMs: number;
  retryAfterSeconds?: number;
  keepAliveTimeoutMs?: number;
  dropsReusedAfterIdleMs?: number;
  noRetryAfter: boolean;
  host: string;
  limit: Int32Array;
  log: MessagePort;
}

const data = workerData as ApiThreadData;
const accepted: number[] = [];
let count = 0;

/** When each kept-alive connection last answered. */
const answeredAt = new WeakMap<object, number>();

const server = createServer((request, response) => {
  const at = Date.now();
  const idleSince = answeredAt.get(request.socket);
  if (
    data.dropsReusedAfterIdleMs !== undefined &&
    idleSince !== undefined &&
    at - idleSince >= data.dropsReusedAfterIdleMs
  ) {
    request.socket.destroy(); // its close crossed this request: no answer, and not counted
    return;
  }
  response.on('finish', () => answeredAt.set(request.socket, Date.now()));
  while (accepted.length && accepted[0] <= at - data.windowMs) accepted.shift();
  const ok = accepted.length < Atomics.load(data.limit, 0);
  if (ok) accepted.push(at);
  count++;
  data.log.postMessage({ at, accepted: ok, path: request.url ?? '' }); // before the answer: the log is never behind
  request.resume();
  if (ok) {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ ok: true, n: count, path: request.url }));
    return;
  }
  const untilRoom = accepted.length ? Math.ceil((accepted[0] + data.windowMs - at) / 1000) : 1;
  const retryAfter = data.noRetryAfter
    ? {}
    : { 'retry-after': String(data.retryAfterSeconds ?? Math.max(1, untilRoom)) };
  response.writeHead(429, { 'content-type': 'application/json', ...retryAfter });
  response.end(JSON.stringify({ error: 'rate limited' }));
});
if (data.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = data.keepAliveTimeoutMs;
server.listen(0, data.host, () => parentPort!.postMessage({ port: (server.address() as { port: number }).port }));
parentPort!.on('message', (message: 'stop') => {
  if (message === 'stop') void closeHttpServer(server).then(() => parentPort!.close());
});
