/** The simulated API itself: a sliding (not fixed) window, 429 with Retry-After, the log, and a lowered real limit. */
import { maxInWindow, RateLimitedApi } from './rate-limited-api.js';

const apis: RateLimitedApi[] = [];
afterEach(async () => {
  await Promise.all(apis.splice(0).map((api) => api.stop()));
});

async function started(api: RateLimitedApi): Promise<(path: string) => Promise<Response>> {
  apis.push(api);
  const { port } = await api.start();
  return (path) => fetch(`http://127.0.0.1:${port}${path}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('accepts `limit` requests, then answers 429 with Retry-After, and logs every request', async () => {
  const get = await started(new RateLimitedApi({ limit: 3, windowMs: 10_000, retryAfterSeconds: 7 }));
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await get(`/quote/${i}`)).status);
  expect(statuses).toEqual([200, 200, 200, 429, 429]);
  const rejected = await get('/quote/5');
  expect(rejected.headers.get('retry-after')).toBe('7');
  expect(await rejected.json()).toEqual({ error: 'rate limited' });
  expect((await get('/quote/6')).status).toBe(429);
});

test('the window slides: a request leaves it windowMs after its own arrival, not at a fixed boundary', async () => {
  const api = new RateLimitedApi({ limit: 2, windowMs: 1000 });
  const get = await started(api);
  const start = Date.now();
  expect((await get('/a')).status).toBe(200);
  await sleep(500 - (Date.now() - start));
  expect((await get('/b')).status).toBe(200);
  await sleep(1250 - (Date.now() - start));
  // '/a' has left the window, '/b' (at 500 ms) has not: exactly one more fits.
  expect((await get('/c')).status).toBe(200);
  const rejected = await get('/d');
  expect(rejected.status).toBe(429);
  expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(api.requests().map((entry) => [entry.path, entry.accepted])).toEqual([
    ['/a', true],
    ['/b', true],
    ['/c', true],
    ['/d', false],
  ]);
  expect(api.rejections().map((entry) => entry.path)).toEqual(['/d']);
  expect(api.maxInAnyWindow(1000)).toBe(2);
  expect(api.maxInAnyWindow(2000)).toBe(3);
});

test('setLimit lowers the real limit below the declared one', async () => {
  const api = new RateLimitedApi({ limit: 10, windowMs: 10_000 });
  const get = await started(api);
  expect((await get('/1')).status).toBe(200);
  api.setLimit(2);
  expect((await get('/2')).status).toBe(200);
  expect((await get('/3')).status).toBe(429);
  expect(api.rejections()).toHaveLength(1);
});

test('maxInWindow counts a window as [t, t + windowMs), whatever the order of the times', () => {
  expect(maxInWindow([], 100)).toBe(0);
  expect(maxInWindow([300, 0, 99, 100, 199], 100)).toBe(2);
  expect(maxInWindow([0, 50, 99, 100], 100)).toBe(3);
  expect(maxInWindow([5, 5, 5], 1)).toBe(3);
});

test('stop closes kept-alive connections too, and the port then refuses', async () => {
  const api = new RateLimitedApi({ limit: 5, windowMs: 1000 });
  const get = await started(api);
  expect((await get('/x')).status).toBe(200);
  await api.stop();
  await expect(get('/y')).rejects.toThrow();
});
