/**
 * Starts queued on one worker (its slots are counted start by start, from the run directories) keep their
 * activities alive: a start that waited longer than the heartbeat timeout was given up by the server as never
 * started, and its experiment could run as run 2 (the scale test's "1 of 1,500 not completed on attempt 1",
 * docs/reliability.md).
 */
import { mkdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { batchSummary } from '../../src/batch-client/index.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';

const server = useTestServer();

const EXPERIMENTS = 40;
/** Directories of runs that never started, long ago: each start's count of the live runs reads them all. */
const LEFT_OVER_RUNS = 3_000;

test('40 starts at once, queued longer than the heartbeat timeout: each experiment runs once, as run 1', async () => {
  const { dir, journal } = await tempExperimentsDir('start-queue');
  for (let i = 1; i <= EXPERIMENTS; i++) await writeScript(dir, `exp${i}_quick`, journal);
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: EXPERIMENTS, heartbeatTimeoutMs: 2_000 });
  const worker = await startWorker(server.env, taskQueue, EXPERIMENTS);
  const longAgo = new Date(Date.now() - 3_600_000);
  for (let i = 0; i < LEFT_OVER_RUNS; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, async (_, j) => {
        const runDir = path.join(worker.runsDir, `left-over.run-${i + j}`);
        await mkdir(runDir, { recursive: true });
        await utimes(runDir, longAgo, longAgo);
      }),
    );
  }

  const { summary, timedOut } = await worker.runUntil(async () => {
    const handle = await startBatch(server.env, state);
    const summary = await batchSummary(handle);
    const timedOut: string[] = [];
    for (const { name } of summary.experiments) {
      const history = await server.env.client.workflow.getHandle(`${state.batchId}/${name}`).fetchHistory();
      if (history.events?.some((event) => event.activityTaskTimedOutEventAttributes)) timedOut.push(name);
    }
    return { summary, timedOut };
  });

  const starts = (await readJournal(journal)).filter((entry) => entry.event === 'start');
  const spanMs = Math.max(...starts.map((entry) => entry.atMs)) - Math.min(...starts.map((entry) => entry.atMs));
  console.log(`[figure] ${EXPERIMENTS} starts queued over ${spanMs} ms; ${timedOut.length} activities timed out`);
  expect(summary.experiments.filter((e) => e.status !== 'completed' || e.attempts !== 1)).toEqual([]);
  expect(starts.map((entry) => entry.attempt)).toEqual(Array(EXPERIMENTS).fill(1));
  // A start the server gave up claims nothing, so a timed-out one costs time, never a second run: how many timed
  // out is a figure (0 when this file runs alone; all 40 once, late in a full CI run, each still run 1).
  console.log(`[figure] timed out: ${timedOut.join(', ') || 'none'}`);
}, 300_000);
