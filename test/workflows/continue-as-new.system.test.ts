/**
 * Experiments running while their batch continues as new: the run that started them is closed when
 * they end, so they must switch to reporting by signal. Each completes once, with its attempts. The batch
 * waits up to 15 s for its running experiments first, so only the long one still runs then. `status` lists it once.
 */
import { batchSummary, listBatches, queryBatchState } from '../../src/batch-client/index.js';
import { readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { until } from '../helpers/processes.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();

test(
  'experiments that span several continue-as-new runs, one of them retried, all end once and are ' + 'counted',
  async () => {
    const { dir, journal } = await tempExperimentsDir('can');
    for (let i = 1; i <= 15; i++)
      await writeScript(dir, `exp${i}_spanning`, journal, { body: `sleep 0.${3 + (i % 5)}` });
    await writeScript(dir, 'exp16_flaky', journal, { body: 'sleep 0.5; [ "$STAGED_ATTEMPT" -ge 2 ]' });
    // Outlives the batch's wait for its running experiments before it continues as new (15 s): ends by signal.
    await writeScript(dir, 'exp0_long', journal, { body: 'sleep 20' });
    // A history limit this small continues as new after every few starts, with experiments in flight.
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 3, historyLimit: 20, retryDelayMs: 300 });
    const worker = await startWorker(server.env, taskQueue, 3);

    const { summary, generation } = await worker.runUntil(async () => {
      const handle = await startBatch(server.env, state);
      const summary = await batchSummary(handle);
      return { summary, generation: (await queryBatchState(handle)).generation };
    });

    expect(generation).toBeGreaterThanOrEqual(2);
    const attempts = Object.fromEntries(
      summary.experiments.map((experiment) => [experiment.name, [experiment.status, experiment.attempts]]),
    );
    for (let i = 1; i <= 15; i++) expect(attempts[`exp${i}_spanning`]).toEqual(['completed', 1]);
    expect(attempts.exp16_flaky).toEqual(['completed', 2]);
    expect(attempts.exp0_long).toEqual(['completed', 1]);
    const ends = (await readJournal(journal)).filter((entry) => entry.event === 'end');
    expect(ends).toHaveLength(18);
    // Listed once, though each continue-as-new left a closed run of the same workflow id (visibility lags a little).
    const statusesListed = async () =>
      (await listBatches(server.env.client, 10))
        .filter((batch) => batch.batchId === state.batchId)
        .map((b) => b.status);
    await until(async () => (await statusesListed()).includes('completed'), 30_000, 'the batch listed as completed');
    expect(await statusesListed()).toEqual(['completed']);
  },
  120_000,
);
