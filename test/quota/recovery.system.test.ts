/**
 * Quotas on their unhappy paths, against a real server and the simulated rate-limited API: a lowered limit
 * climbs back (AIMD) and can be reset, the budget owns its declaration, a 429 without Retry-After pauses a
 * share of the window, views are of now, and the `quota` command works before the first call.
 */
import { execa } from 'execa';
import { batchSummary, findBatch } from '../../src/batch-client/index.js';
import type { QuotaView } from '../../src/budget/slots.js';
import { CLI, until } from '../helpers/processes.js';
import { writeQuotaConfig, writeQuotaExperiments } from '../helpers/quota-experiments.js';
import { RateLimitedApi } from '../helpers/rate-limited-api.js';
import { tempDir } from '../helpers/scripts.js';
import { startWorker, uniqueQueue, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const WINDOW_MS = 2_000;

function cli(dir: string, taskQueue: string, args: string[]) {
  return execa(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}

async function submitDetached(dir: string, taskQueue: string, args: string[] = []) {
  const submitted = await cli(dir, taskQueue, ['submit', '--dir', '.', '--detach', '--json', ...args]);
  expect(submitted.exitCode).toBe(0);
  const { batchId } = JSON.parse(String(submitted.stdout)) as { batchId: string };
  return { batchId, stderr: String(submitted.stderr) };
}

async function summaryOf(batchId: string) {
  return batchSummary((await findBatch(server.env.client, batchId))!.handle);
}

async function show(dir: string, taskQueue: string): Promise<QuotaView & { started?: false }> {
  const shown = await cli(dir, taskQueue, ['quota', 'show', 'fakeapi', '--json']);
  expect(shown.exitCode).toBe(0);
  return (JSON.parse(String(shown.stdout)) as { quotas: (QuotaView & { started?: false })[] }).quotas[0];
}

/** Whether `predicate` came true within `timeoutMs` (a fact to compare, so that every check of a test is seen). */
async function reached(predicate: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  return until(predicate, timeoutMs, '').then(
    () => true,
    () => false,
  );
}

test(
  'one 429 with few calls in the window (Retry-After absent): paused a share of the window, lowered by half at ' +
    'most, shown with its history, raised again by each window used without a 429; `quota reset` restores it; ' +
    '`quota show` counts the window as of now',
  async () => {
    // refuses the very first call, as a provider whose limit other users share may; then accepts 40 per window
    const api = new RateLimitedApi({ limit: 0, windowMs: WINDOW_MS, noRetryAfter: true });
    const { port } = await api.start();
    const taskQueue = uniqueQueue();
    const worker = await startWorker(server.env, taskQueue, 4);
    const running = worker.run();
    try {
      const dir = await tempDir('quota-recovery');
      await writeQuotaConfig(dir, { fakeapi: { limit: '40/2s', hosts: [`127.0.0.1:${port}`] } });
      await writeQuotaExperiments(dir, port, { count: 4, calls: 30, quotaLine: 'Quota: fakeapi', onRefused: 'retry' });
      const { batchId } = await submitDetached(dir, taskQueue, ['--max-concurrent', '4', '--max-retries', '0']);
      await until(() => api.rejections().length > 0, 60_000, 'the first call');
      api.setLimit(40);
      let lowered: number | undefined;
      await until(
        async () =>
          (lowered = (await show(dir, taskQueue)).history?.find((e) => e.event === 'lowered')?.limit) !== undefined,
        10 * WINDOW_MS,
        'the limit to be lowered',
      ).catch(() => undefined);
      const climbed = await reached(
        async () => lowered !== undefined && (await show(dir, taskQueue)).effectiveLimit > lowered,
        15 * WINDOW_MS,
      );
      const summary = await summaryOf(batchId);
      expect(summary.experiments.map((experiment) => experiment.status)).toEqual(Array(4).fill('completed'));

      const firstRefusal = api.rejections()[0].at;
      const resumedAt = api.requests().find((request) => request.accepted && request.at > firstRefusal)!.at;
      console.log(`[figure] 429 without Retry-After at 40/2s: calls resumed ${resumedAt - firstRefusal} ms later`);
      const lastCall = api.requests().at(-1)!.at;
      await until(() => Date.now() > lastCall + WINDOW_MS + 1_000, 10_000, 'the last call to leave its window');
      // the window as of now: the batch's calls have left it, though the budget has not run since
      const callsInWindowNow = (await show(dir, taskQueue)).callsInWindow;
      const text = String((await cli(dir, taskQueue, ['quota', 'show', 'fakeapi'])).stdout);
      const reset = await cli(dir, taskQueue, ['quota', 'reset', 'fakeapi']);
      const restored = await reached(async () => (await show(dir, taskQueue)).effectiveLimit === 40, 20_000);
      expect({
        // a share of the window (500 ms), not the old 30 s
        resumedWithinTwoWindows: resumedAt - firstRefusal < 2 * WINDOW_MS,
        // a 429 with few calls in the window says little of the provider's limit: at most halved
        lowered,
        climbed,
        callsInWindowNow,
        showsLowered: /limit lowered from 40 after 429s/.test(text),
        showsHistory: /429 with \d+ calls in the window: limit lowered 40 → 20/.test(text),
        reset: [reset.exitCode, restored],
      }).toEqual({
        resumedWithinTwoWindows: true,
        lowered: 20,
        climbed: true,
        callsInWindowNow: 0,
        showsLowered: true,
        showsHistory: true,
        reset: [0, true],
      });
    } finally {
      worker.shutdown();
      await running;
      await api.stop();
    }
  },
  120_000,
);

test(
  'two batches declaring one quota differently: the later submit says the declaration changed, and the ' +
    "budget keeps it: the earlier batch's asks do not flip it back",
  async () => {
    const api = new RateLimitedApi({ limit: 40, windowMs: WINDOW_MS });
    const { port } = await api.start();
    const taskQueue = uniqueQueue();
    const worker = await startWorker(server.env, taskQueue, 6);
    const running = worker.run();
    try {
      const [first, second] = [await tempDir('quota-declare-a'), await tempDir('quota-declare-b')];
      await writeQuotaConfig(first, { fakeapi: { limit: '40/2s', hosts: [`127.0.0.1:${port}`] } });
      await writeQuotaConfig(second, { fakeapi: { limit: '20/2s', hosts: [`127.0.0.1:${port}`] } });
      const set = { quotaLine: 'Quota: fakeapi', onRefused: 'retry' } as const;
      await writeQuotaExperiments(first, port, { ...set, count: 4, calls: 40 });
      await writeQuotaExperiments(second, port, { ...set, count: 2, calls: 10 });
      const a = await submitDetached(first, taskQueue, ['--max-concurrent', '4']);
      await until(() => api.requests().length >= 10, 30_000, 'the first batch to call');
      const b = await submitDetached(second, taskQueue, ['--max-concurrent', '2']);
      const declaredAt = Date.now();
      for (const { batchId } of [a, b]) {
        const summary = await summaryOf(batchId);
        expect(summary.experiments.every((experiment) => experiment.status === 'completed')).toBe(true);
      }
      const view = await show(second, taskQueue);
      const later = api.requests().filter((request) => request.at > declaredAt + WINDOW_MS + 1_000);
      expect(later.length).toBeGreaterThan(40);
      const most = Math.max(
        ...later.map(({ at }) => later.filter((other) => other.at >= at && other.at < at + WINDOW_MS).length),
      );
      console.log(`[figure] after the second declaration (20/2s), at most ${most} calls in a window`);
      expect({
        printed: /\[QUOTA\] fakeapi: declaration changed from 40\/2(\.0)?s .*to 20\/2(\.0)?s/.test(b.stderr),
        declaration: [view.limit, view.windowMs],
        declaredEvents: (view.history ?? []).filter((event) => event.event === 'declared').length,
        withinTheNewLimit: most <= 20,
      }).toEqual({
        printed: true,
        declaration: [20, WINDOW_MS],
        declaredEvents: 1,
        withinTheNewLimit: true,
      });
    } finally {
      worker.shutdown();
      await running;
      await api.stop();
    }
  },
  120_000,
);

test(
  '`quota pause` works before the first call and needs a duration (exit 2); hostless quotas are refused at ' +
    'submit (exit 2) unless metered by hand; IPv6 hosts are metered',
  async () => {
    const api = new RateLimitedApi({ limit: 100, windowMs: WINDOW_MS, host: '::1' });
    const { port } = await api.start();
    const taskQueue = uniqueQueue();
    const worker = await startWorker(server.env, taskQueue, 2);
    const running = worker.run();
    try {
      const fresh = await tempDir('quota-fresh');
      await writeQuotaConfig(fresh, { fakeapi: { limit: '100/2s', hosts: ['127.0.0.1:9'] } });
      const noDuration = await cli(fresh, taskQueue, ['quota', 'pause', 'fakeapi']);
      const paused = await cli(fresh, taskQueue, ['quota', 'pause', 'fakeapi', '1m']);
      const showsPause = await reached(async () => (await show(fresh, taskQueue)).pausedUntil != null, 20_000);
      const resumed = await cli(fresh, taskQueue, ['quota', 'resume', 'fakeapi']);

      const dir = await tempDir('quota-ipv6');
      await writeQuotaConfig(dir, { fakeapi: { limit: '100/2s', hosts: [`[::1]:${port}`] } });

      const ipv6 = { quotaLine: 'Quota: fakeapi', onRefused: 'retry', host: '[::1]' } as const;
      await writeQuotaExperiments(dir, port, { ...ipv6, count: 2, calls: 5 });
      const submitted = await cli(dir, taskQueue, ['submit', '--dir', '.', '--detach', '--json']);
      const metered =
        submitted.exitCode === 0
          ? (await summaryOf(JSON.parse(String(submitted.stdout)).batchId)).experiments.map((e) => e.calls)
          : String(submitted.stderr);

      const hostless = await tempDir('quota-hostless');
      await writeQuotaConfig(hostless, { fakeapi: { limit: '100/2s' } });
      const one = { count: 1, calls: 1, onRefused: 'retry' } as const;
      await writeQuotaExperiments(hostless, port, { ...one, quotaLine: 'Quota: fakeapi' });
      const refused = await cli(hostless, taskQueue, ['submit', '--dir', '.', '--detach']);
      await writeQuotaExperiments(hostless, port, { ...one, quotaLine: 'Quota: fakeapi\nMetering: manual' });
      const manual = await cli(hostless, taskQueue, ['submit', '--dir', '.', '--dry-run']);
      expect({
        pauseWithoutDuration: [noDuration.exitCode, /needs a duration/.test(String(noDuration.stderr))],
        pauseBeforeFirstCall: [paused.exitCode, String(paused.stderr), showsPause, resumed.exitCode],
        ipv6Metered: metered,
        hostless: [refused.exitCode, /declares no hosts/.test(String(refused.stderr))],
        hostlessManual: manual.exitCode,
      }).toEqual({
        pauseWithoutDuration: [2, true],
        pauseBeforeFirstCall: [0, '', true, 0],
        ipv6Metered: [{ fakeapi: 5 }, { fakeapi: 5 }],
        hostless: [2, true],
        hostlessManual: 0,
      });
      expect(api.requests()).toHaveLength(10);
    } finally {
      worker.shutdown();
      await running;
      await api.stop();
    }
  },
  120_000,
);
