/**
 * A batch of 1,500 experiments completes, each exactly once, with every run of the batch workflow under
 * 10,000 history events.
 */
import { batchSummary, queryBatchState } from '../../src/batch-client/index.js';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { tempExperimentsDir } from '../helpers/scripts.js';

const EXPERIMENTS = 1_500;
/** Low enough that the batch continues as new several times (the default, 4,000, takes 5,000 experiments). */
const HISTORY_LIMIT = 1_000;
const MAX_EVENTS_PER_RUN = 10_000;

const server = useTestServer();

test(`${EXPERIMENTS} trivial experiments complete exactly once across continue-as-new runs`, async () => {
  const { dir, journal } = await tempExperimentsDir('scale');
  await Promise.all(
    Array.from({ length: EXPERIMENTS }, async (_, i) => {
      const file = path.join(dir, `exp${i + 1}_trivial.sh`);
      await writeFile(file, `#!/bin/sh\necho "$STAGED_EXPERIMENT" >> "${journal}"\n`);
      await chmod(file, 0o755);
    }),
  );
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 40, historyLimit: HISTORY_LIMIT });
  const worker = await startWorker(server.env, taskQueue, 40);

  const { summary, generation } = await worker.runUntil(async () => {
    const handle = await startBatch(server.env, state);
    const summary = await batchSummary(handle);
    return { summary, generation: (await queryBatchState(handle)).generation };
  });

  expect(summary.experiments).toHaveLength(EXPERIMENTS);
  const notOnceCompleted = summary.experiments.filter((e) => e.status !== 'completed' || e.attempts !== 1);
  expect(notOnceCompleted).toEqual([]);
  const runs = (await readFile(journal, 'utf8')).trim().split('\n');
  expect(runs).toHaveLength(EXPERIMENTS);
  expect(new Set(runs).size).toBe(EXPERIMENTS);
  expect(generation).toBeGreaterThanOrEqual(2);

  let runIds: string[] = [];
  for (let tries = 0; tries < 50 && runIds.length < generation + 1; tries++) {
    runIds = [];
    for await (const run of server.env.client.workflow.list({ query: `WorkflowId = '${state.batchId}'` }))
      runIds.push(run.runId);
    if (runIds.length < generation + 1) await delay(200);
  }
  expect(runIds).toHaveLength(generation + 1);
  const eventsPerRun: number[] = [];
  for (const runId of runIds) {
    const history = await server.env.client.workflow.getHandle(state.batchId, runId).fetchHistory();
    eventsPerRun.push(history.events?.length ?? 0);
  }
  console.log(
    `[figure] ${EXPERIMENTS} experiments: ${runIds.length} runs of the batch workflow, events per run ` +
      `${eventsPerRun.join(', ')}`,
  );
  expect(Math.max(...eventsPerRun)).toBeLessThan(MAX_EVENTS_PER_RUN);
}, 1_500_000); // about 4 min on a quiet 2-core machine; a loaded one took over 10
