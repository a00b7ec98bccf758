/**
 * A quota's maxConcurrent holds across batches (from the processes' own timestamps), lets a batch's
 * other experiments run meanwhile, and a cancelled batch gives its slots back.
 */
import path from 'node:path';
import { batchSummary, cancelBatch, queryBatchState } from '../../src/batch-client/index.js';
import type { QuotaDeclaration } from '../../src/model/types.js';
import { maxOverlap, readJournal, tempDir, writeScript, type JournalEntry } from '../helpers/scripts.js';
import { until } from '../helpers/processes.js';
import {
  quotaBatchStateFor,
  startBatch,
  startWorker,
  testSettings,
  uniqueQueue,
  useTestServer,
} from '../helpers/temporal.js';

const server = useTestServer();

const api = (maxConcurrent: number): Record<string, QuotaDeclaration> => ({
  api: { limit: 1_000, windowMs: 1_000, hosts: ['api.example'], maxConcurrent },
});

async function experimentsIn(dir: string, journal: string, names: string[], quota: boolean, seconds: number) {
  for (const name of names) {
    const title = quota ? `${name} uses the API\n# Quota: api` : `${name} uses no quota`;
    await writeScript(dir, name, journal, { title, body: `sleep ${seconds}` });
  }
}

const starts = (entries: JournalEntry[], prefix: string) =>
  entries.filter((entry) => entry.event === 'start' && entry.name.startsWith(prefix)).map((entry) => entry.atMs);

test('maxConcurrent 2 across two batches of 4: never more than 2 at once, and 2 reached', async () => {
  const journal = path.join(await tempDir('slots-journal'), 'journal');
  const taskQueue = uniqueQueue();
  const batches = await Promise.all(
    ['a', 'b'].map(async (letter) => {
      const dir = await tempDir(`slots-${letter}`);
      await experimentsIn(
        dir,
        journal,
        [1, 2, 3, 4].map((n) => `exp${n}_${letter}`),
        true,
        1.5,
      );
      const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxConcurrent: 3 });
      return quotaBatchStateFor(server.env, settings, api(2));
    }),
  );
  const worker = await startWorker(server.env, taskQueue, 8);
  const summaries = await worker.runUntil(async () => {
    const handles = await Promise.all(batches.map((state) => startBatch(server.env, state)));
    return Promise.all(handles.map((handle) => batchSummary(handle)));
  });
  for (const summary of summaries) {
    expect(summary.experiments.map((experiment) => experiment.status)).toEqual(Array(4).fill('completed'));
  }
  const entries = await readJournal(journal);
  expect(entries.filter((entry) => entry.event === 'end')).toHaveLength(8);
  expect(maxOverlap(entries)).toBe(2);
}, 120_000);

test('maxConcurrent 1 in a batch of 4 at once: experiments without the quota run while the quota is busy', async () => {
  const dir = await tempDir('slots-mixed');
  const journal = path.join(dir, '_journal');
  // An API run holds the quota until both free experiments have ended (or 30 s have passed: the test fails).
  const freeEnded = `[ "$(grep -c '^end exp[45]_free' "${journal}")" = 2 ]`;
  const holdUntilFreeEnded = `i=0; until ${freeEnded} || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done`;
  for (const name of ['exp1_api', 'exp2_api', 'exp3_api'])
    await writeScript(dir, name, journal, { title: `${name} uses the API\n# Quota: api`, body: holdUntilFreeEnded });
  await experimentsIn(dir, journal, ['exp4_free', 'exp5_free'], false, 1);
  const taskQueue = uniqueQueue();
  const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxConcurrent: 4 });
  const state = await quotaBatchStateFor(server.env, settings, api(1));
  const worker = await startWorker(server.env, taskQueue, 8);
  const summary = await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
  expect(summary.experiments.every((experiment) => experiment.status === 'completed')).toBe(true);

  const entries = await readJournal(journal);
  const apiEntries = entries.filter((entry) => entry.name.includes('_api'));
  expect(maxOverlap(apiEntries)).toBe(1);
  // The free experiments come after the API ones in order, yet both ran before the second API one started
  // (whichever got the slot first: under load exp2 may ask before exp1).
  const [, secondApiStart] = starts(apiEntries, 'exp').sort((a, b) => a - b);
  expect(Math.max(...starts(entries, 'exp4_free'), ...starts(entries, 'exp5_free'))).toBeLessThan(secondApiStart);
}, 120_000);

/**
 * A batch whose one experiment holds the quota's only slot, and a second batch waiting for it; `letGo`
 * ends the holder somehow. Returns the waiting batch's summary, the journal, and when `letGo` began.
 */
async function holderAndWaiter(prefix: string, letGo: (holdingBatchId: string) => Promise<void>) {
  const journal = path.join(await tempDir(prefix), 'journal');
  const taskQueue = uniqueQueue();
  const holding = await tempDir(`${prefix}-holder`);
  await experimentsIn(holding, journal, ['exp1_holds'], true, 300);
  const waiting = await tempDir(`${prefix}-waiting`);
  await experimentsIn(waiting, journal, ['exp1_waits'], true, 0.2);
  const stateOf = async (dir: string) =>
    quotaBatchStateFor(server.env, testSettings({ experimentsDir: dir, workDir: dir, taskQueue }), api(1));
  const [holdingState, waitingState] = [await stateOf(holding), await stateOf(waiting)];
  const worker = await startWorker(server.env, taskQueue, 4);
  let letGoAt = 0;
  const summary = await worker.runUntil(async () => {
    const holdingHandle = await startBatch(server.env, holdingState);
    const holderStarted = async () => (await readJournal(journal)).some((entry) => entry.name === 'exp1_holds');
    await until(holderStarted, 60_000, 'the holder to start');
    const waitingHandle = await startBatch(server.env, waitingState);
    const waitsForSlot = async () => (await queryBatchState(waitingHandle)).records[0].status === 'waiting-quota';
    await until(waitsForSlot, 30_000, 'the other batch to wait for the slot');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    letGoAt = Date.now();
    await letGo(holdingState.batchId);
    const summary = await batchSummary(waitingHandle);
    await holdingHandle.cancel().catch(() => undefined);
    return summary;
  });
  return { summary, entries: await readJournal(journal), letGoAt };
}

test('a cancelled batch gives its slot back: the other batch, waiting for it, completes', async () => {
  const { summary, entries, letGoAt } = await holderAndWaiter('slots-cancel', (batchId) =>
    cancelBatch(server.env.client, batchId),
  );
  expect(summary.experiments[0].status).toBe('completed');
  const waitsStarted = entries.find((entry) => entry.event === 'start' && entry.name === 'exp1_waits');
  expect(waitsStarted!.atMs).toBeGreaterThanOrEqual(letGoAt);
}, 120_000);

test('a holder terminated by hand (it never releases) loses its slot to the experiment waiting for it', async () => {
  const { summary, entries, letGoAt } = await holderAndWaiter('slots-terminated', async (batchId) => {
    await server.env.client.workflow.getHandle(`${batchId}/exp1_holds`).terminate('by hand');
  });
  expect(summary.experiments[0].status).toBe('completed');
  const waitsStarted = entries.find((entry) => entry.event === 'start' && entry.name === 'exp1_waits');
  expect(waitsStarted!.atMs).toBeGreaterThanOrEqual(letGoAt);
}, 120_000);
