/** The core guarantees of a batch, measured from the experiment processes themselves on a real Temporal server. */
import { batchSummary, queryBatchState } from '../../src/batch-client/index.js';
import { existsSync } from 'node:fs';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StagedWorker } from '../../src/worker/main.js';
import { attemptLogFile } from '../../src/paths.js';
import { STATUS_SEARCH_ATTRIBUTE } from '../../src/protocol/search-attributes.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { maxOverlap, readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { GONE_WITHIN_MS, LOAD_MARGIN_MS, waitUntilDead } from '../helpers/processes.js';

const server = useTestServer();

async function withWorker<T>(taskQueue: string, slots: number, body: (worker: StagedWorker) => Promise<T>): Promise<T> {
  const worker = await startWorker(server.env, taskQueue, slots);
  return worker.runUntil(body(worker));
}

test('starts experiments strictly in priority order and never runs more than --max-concurrent at once', async () => {
  const { dir, journal } = await tempExperimentsDir('order');
  const titles: Record<string, string> = {
    exp100_low: 'Baseline.\n#\n# Priority: low',
    exp9_medium: 'Momentum sweep.',
    exp10_medium: 'Another sweep.',
    exp50_high: 'Adaptive stops.',
    exp51_high: 'Risk management caps.',
    exp7_critical: 'Production audit.',
    exp8_critical: 'Deployment check.',
    exp99_medium: 'Plain run.',
  };
  for (const [name, title] of Object.entries(titles))
    await writeScript(dir, name, journal, { title, body: 'sleep 0.4' });
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 2 });

  const summary = await withWorker(taskQueue, 6, async () => batchSummary(await startBatch(server.env, state)));

  expect(summary.experiments.every((experiment) => experiment.status === 'completed')).toBe(true);
  const entries = await readJournal(journal);
  const starts = entries.filter((entry) => entry.event === 'start').sort((a, b) => a.atMs - b.atMs);
  const expectedOrder = [
    'exp7_critical',
    'exp8_critical',
    'exp50_high',
    'exp51_high',
    'exp9_medium',
    'exp10_medium',
    'exp99_medium',
    'exp100_low',
  ];
  // The batch starts them in this order; of two started one after the other, either process may start first on a
  // loaded machine (their keepers race), but none may overtake one two or more places ahead of it.
  const position = new Map(starts.map((entry, i) => [entry.name, i]));
  const outOfOrder = expectedOrder.flatMap((name, i) =>
    expectedOrder.slice(i + 2).flatMap((later) => (position.get(later)! < position.get(name)! ? [[name, later]] : [])),
  );
  expect(starts).toHaveLength(expectedOrder.length);
  expect(outOfOrder).toEqual([]);
  expect(maxOverlap(entries)).toBe(2);
});

test('retries a failing attempt durably and completes when a later attempt succeeds', async () => {
  const { dir, journal } = await tempExperimentsDir('retry');
  await writeScript(dir, 'exp1_flaky', journal, {
    body: 'echo "attempt $STAGED_ATTEMPT"; [ "$STAGED_ATTEMPT" -ge 3 ]',
  });
  const { taskQueue, state } = await batchIn(dir, { maxRetries: 2 });

  const summary = await withWorker(taskQueue, 2, async () => batchSummary(await startBatch(server.env, state)));

  expect(summary.experiments[0]).toMatchObject({ name: 'exp1_flaky', status: 'completed', attempts: 3, exitCode: 0 });
  const runs = (await readJournal(journal)).filter((entry) => entry.event === 'start');
  expect(runs.map((entry) => entry.attempt)).toEqual([1, 2, 3]);
  for (const run of [1, 2, 3]) expect(existsSync(attemptLogFile(dir, state.batchId, 'exp1_flaky', run))).toBe(true);
});

test('fails an experiment for good after --max-retries + 1 runs while the rest of the batch goes on', async () => {
  const { dir, journal } = await tempExperimentsDir('fail');
  await writeScript(dir, 'exp1_broken', journal, {
    title: 'Critical broken run.',
    body: 'echo "boom on stderr" >&2; exit 3',
  });
  await writeScript(dir, 'exp2_fine', journal, { body: 'sleep 0.1' });
  const { taskQueue, state } = await batchIn(dir, { maxRetries: 1, maxConcurrent: 1 });

  const summary = await withWorker(taskQueue, 2, async () => batchSummary(await startBatch(server.env, state)));

  const broken = summary.experiments.find((experiment) => experiment.name === 'exp1_broken');
  const fine = summary.experiments.find((experiment) => experiment.name === 'exp2_fine');
  expect(broken).toMatchObject({ status: 'failed', attempts: 2, exitCode: 3 });
  expect(fine).toMatchObject({ status: 'completed', attempts: 1 });
  const brokenRuns = (await readJournal(journal)).filter(
    (entry) => entry.event === 'start' && entry.name === 'exp1_broken',
  );
  expect(brokenRuns).toHaveLength(2);
});

test(
  'a missing script, a non-executable file and a missing interpreter fail at once, without retries, saying ' + 'which',
  async () => {
    const { dir, journal } = await tempExperimentsDir('notrunnable');
    await writeScript(dir, 'exp1_missing', journal);
    await writeScript(dir, 'exp2_not_executable', journal);
    await writeFile(path.join(dir, 'exp3_python.py'), `"A Python experiment."\nprint("hi")\n`);
    const { taskQueue, state } = await batchIn(dir, { maxRetries: 2 });
    // Break them after discovery, as happens when files change between submit and run.
    await rm(path.join(dir, 'exp1_missing.sh'));
    await chmod(path.join(dir, 'exp2_not_executable.sh'), 0o644);
    process.env.STAGED_PYTHON = '/nonexistent/python3';

    try {
      const { summary, finalState } = await withWorker(taskQueue, 3, async () => {
        const handle = await startBatch(server.env, state);
        return { summary: await batchSummary(handle), finalState: await queryBatchState(handle) };
      });
      const errors = Object.fromEntries(
        state.experiments.map((experiment, index) => [experiment.name, finalState.records[index].error]),
      );
      expect(
        summary.experiments.map((experiment) => [experiment.name, experiment.status, experiment.attempts]),
      ).toEqual(
        expect.arrayContaining([
          ['exp1_missing', 'failed', 0],
          ['exp2_not_executable', 'failed', 0],
          ['exp3_python', 'failed', 0],
        ]),
      );
      expect(errors.exp1_missing).toMatch(/script not found: .*exp1_missing\.sh/);
      expect(errors.exp2_not_executable).toMatch(/not executable/);
      expect(errors.exp3_python).toMatch(/cannot start \/nonexistent\/python3/);
      expect(await readJournal(journal)).toHaveLength(0);
    } finally {
      delete process.env.STAGED_PYTHON;
    }
  },
);

test(
  'cancelling a batch kills each running process tree, grandchildren included, and queued experiments never ' + 'start',
  async () => {
    const { dir, journal } = await tempExperimentsDir('cancel');
    const pids = path.join(dir, '_pids');
    const body = `sleep 300 & echo "$! $$" >> "${pids}"; wait`;
    for (const name of ['exp1_long', 'exp2_long', 'exp3_queued']) await writeScript(dir, name, journal, { body });
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 2, killGraceMs: 1_000 });

    const { summary, recorded } = await withWorker(taskQueue, 3, async () => {
      const handle = await startBatch(server.env, state);
      let recorded: number[] = [];
      while (recorded.length < 4) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        recorded = (await readFile(pids, 'utf8').catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
      }
      await handle.cancel();
      const summary = await batchSummary(handle);
      return { summary, recorded };
    });

    expect(summary.experiments.map((experiment) => [experiment.status, experiment.reason])).toEqual([
      ['cancelled', 'cancelled'],
      ['cancelled', 'cancelled'],
      ['cancelled', null],
    ]);
    expect(await waitUntilDead(recorded, GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
    const started = (await readJournal(journal)).filter((entry) => entry.event === 'start').map((entry) => entry.name);
    expect(started.sort()).toEqual(['exp1_long', 'exp2_long']);
  },
);

test(
  'an experiment that leaves a background grandchild still completes, and the grandchild is killed with ' + 'it',
  async () => {
    const { dir, journal } = await tempExperimentsDir('grandchild');
    const pids = path.join(dir, '_pids');
    await writeScript(dir, 'exp1_leaves_child', journal, { body: `sleep 300 & echo "$!" >> "${pids}"` });
    const { taskQueue, state } = await batchIn(dir, { killGraceMs: 1_000 });

    const summary = await withWorker(taskQueue, 1, async () => batchSummary(await startBatch(server.env, state)));

    expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 1 });
    const grandchild = Number((await readFile(pids, 'utf8')).trim());
    expect(grandchild).toBeGreaterThan(0);
    expect(await waitUntilDead([grandchild], GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  },
);

test(
  'an experiment waiting for a worker slot is queued, not running; start order within a priority is kept; ' +
    'durations count from the process start',
  async () => {
    const { dir, journal } = await tempExperimentsDir('slots');
    // Each run lasts until the test has seen the first one running.
    const release = path.join(dir, '_release');
    for (const name of ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d'])
      await writeScript(dir, name, journal, { body: `while [ ! -e "${release}" ]; do sleep 0.1; done` });
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 4 });

    const { summary, whileFirstRuns, attributes } = await withWorker(taskQueue, 1, async () => {
      const handle = await startBatch(server.env, state);
      let snapshot = await queryBatchState(handle);
      while (snapshot.records[0].status !== 'running') {
        await new Promise((resolve) => setTimeout(resolve, 100));
        snapshot = await queryBatchState(handle);
      }
      const description = await server.env.client.workflow.getHandle(`${state.batchId}/exp3_c`).describe();
      const attributes = description.typedSearchAttributes.get(STATUS_SEARCH_ATTRIBUTE);
      await writeFile(release, '');
      return { summary: await batchSummary(handle), whileFirstRuns: snapshot.records, attributes };
    });

    expect(whileFirstRuns.map((record) => [record.status, record.attempts])).toEqual([
      ['running', 1],
      ['queued', 0],
      ['queued', 0],
      ['queued', 0],
    ]);
    expect(attributes).toBe('queued');
    const entries = await readJournal(journal);
    const starts = entries.filter((entry) => entry.event === 'start');
    expect([...starts].sort((a, b) => a.atMs - b.atMs).map((entry) => entry.name)).toEqual([
      'exp1_a',
      'exp2_b',
      'exp3_c',
      'exp4_d',
    ]);
    // Its own run, not the wait for the slot: it starts after the one before it ended, and ends after its script.
    const endOf = (name: string) => entries.find((entry) => entry.event === 'end' && entry.name === name)!.atMs;
    summary.experiments.forEach((experiment, i) => {
      if (i > 0)
        expect(Date.parse(experiment.startedAt!)).toBeGreaterThanOrEqual(endOf(summary.experiments[i - 1].name));
      expect(Date.parse(experiment.startedAt!)).toBeLessThan(endOf(experiment.name));
      expect(Date.parse(experiment.closedAt!)).toBeGreaterThanOrEqual(endOf(experiment.name));
    });
    expect(maxOverlap(entries)).toBe(1);
  },
);
