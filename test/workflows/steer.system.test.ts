/** Steering a running batch from the command line (`add`, `change`, `pause`, `resume`), on a real server. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { batchSummary, queryBatchState } from '../../src/batch-client/index.js';
import { packBatchState } from '../../src/model/packed-state.js';
import { STATUS_SEARCH_ATTRIBUTE } from '../../src/protocol/search-attributes.js';
import type { BatchState } from '../../src/model/types.js';
import type { SteerAnswer } from '../../src/model/steering.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { maxOverlap, readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { CLI, until } from '../helpers/processes.js';

const server = useTestServer();

function staged(args: string[]) {
  return execa(process.execPath, [CLI, ...args], { env: { TEMPORAL_ADDRESS: server.env.address }, reject: false });
}

async function stagedJson(args: string[]): Promise<SteerAnswer> {
  const result = await staged([...args, '--json']);
  if (result.exitCode !== 0) throw new Error(`staged ${args.join(' ')}: exit ${result.exitCode}: ${result.stderr}`);
  return JSON.parse(String(result.stdout)) as SteerAnswer;
}

/** Waits until the experiment's script has written its start line. */
async function started(journal: string, name: string): Promise<void> {
  await until(
    async () => (await readJournal(journal)).some((entry) => entry.event === 'start' && entry.name === name),
    60_000,
    `${name} started`,
  );
}

/** The state as the batch holds it, for comparing before and after a refused change. */
const packed = (state: BatchState) => JSON.stringify(packBatchState(state));

test(
  'add, reprioritise, hold, release, pause, resume and change the limits of a running batch; every refused change ' +
    'exits 2 and leaves the batch as it was',
  async () => {
    const { dir, journal } = await tempExperimentsDir('steer');
    const gate = path.join(dir, 'gate');
    const body = `while [ ! -e "${gate}" ]; do sleep 0.1; done`;
    for (const name of ['exp1_first', 'exp2_b', 'exp3_c', 'exp4_d']) await writeScript(dir, name, journal, { body });
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 1, maxRetries: 0 });
    const batchId = state.batchId;
    const worker = await startWorker(server.env, taskQueue, 4);
    const handle = await startBatch(server.env, state);

    await worker.runUntil(async () => {
      await started(journal, 'exp1_first');

      const paused = await stagedJson(['pause', batchId]);
      expect(paused.pausedSince).not.toBeNull();
      const shown = async () => (await handle.describe()).typedSearchAttributes.get(STATUS_SEARCH_ATTRIBUTE);
      expect(await shown()).toBe('paused');
      const moved = await stagedJson(['change', batchId, 'exp4', '--priority', 'critical']);
      expect(moved.experiments).toEqual([{ name: 'exp4_d', priority: 'critical', status: 'queued', place: 1 }]);
      const held = await stagedJson(['change', batchId, 'exp3_c', '--hold']);
      expect(held.experiments[0]).toMatchObject({ name: 'exp3_c', status: 'held', place: 3 });
      await writeScript(dir, 'exp9_added', journal, { body, title: 'Added later.\n#\n# Priority: high' });
      // A draft with a malformed header blocks only an add that names it (refused below).
      await writeFile(path.join(dir, 'exp8_draft.py'), '"""Draft.\n\nRequires: gpu=two\n"""\n');
      const added = await stagedJson(['add', batchId, path.join(dir, 'exp9_added.sh')]);
      expect(added.experiments).toEqual([{ name: 'exp9_added', priority: 'high', status: 'queued', place: 2 }]);

      const before = packed(await queryBatchState(handle));
      const outside = await tempDir('steer-outside');
      await writeScript(outside, 'exp7_elsewhere', journal);
      const refused = [
        { args: ['add', batchId, path.join(dir, 'exp2_b.sh')], says: /already has exp2_b/ },
        { args: ['add', batchId, path.join(dir, 'exp8_draft.py')], says: /exp8_draft\.py:3: malformed line "Requires/ },
        { args: ['add', batchId, dir], says: /exp8_draft\.py:3: malformed line "Requires: gpu=two"/ },
        { args: ['add', batchId, path.join(outside, 'exp7_elsewhere.sh')], says: /not in the batch's experiments/ },
        { args: ['change', batchId, 'exp1', '--priority', 'low'], says: /exp1_first has already started/ },
        { args: ['change', batchId, 'exp99', '--hold'], says: /has no experiment "exp99"/ },
        { args: ['change', batchId, 'exp2', '--release'], says: /exp2_b is not held/ },
        { args: ['change', batchId, 'exp2', '--priority', 'urgent'], says: /--priority must be one of/ },
        { args: ['change', batchId, '--max-concurrent', '0'], says: /--max-concurrent/ },
        { args: ['change', batchId], says: /nothing to change/ },
        { args: ['pause', batchId], says: /is already paused/ },
        { args: ['resume', 'no-such-batch'], says: /no batch with id "no-such-batch"/ },
      ];
      for (const { args, says } of refused) {
        const result = await staged(args);
        expect([args.join(' '), result.exitCode, says.test(result.stderr) ? 'says why' : result.stderr]).toEqual([
          args.join(' '),
          2,
          'says why',
        ]);
      }
      expect(packed(await queryBatchState(handle))).toBe(before);

      const status = await staged(['status', batchId]);
      expect(status.stdout.split('\n')[0]).toBe(`Batch ${batchId}: paused`); // was "running"
      expect(status.stdout).toMatch(/\[PAUSED\] for .*: nothing new starts until resume/);
      expect(status.stdout).toMatch(/Held: 1/);

      const wider = await stagedJson(['change', batchId, '--max-concurrent', '2']);
      expect(wider).toMatchObject({ maxConcurrent: 2, pausedSince: expect.any(Number) });
      expect((await stagedJson(['resume', batchId])).pausedSince).toBeNull();
      expect(await shown()).toBe('running');
      await writeFile(gate, '');
      // Everything but the held one ends; the batch waits for it and says so.
      let statuses: string[] = [];
      await until(
        async () => {
          statuses = (await queryBatchState(handle)).records.map((record) => record.status);
          return statuses.filter((status) => status === 'completed').length === 4;
        },
        150_000,
        'all but the held experiment completed',
      ).catch((err: Error) => Promise.reject(new Error(`${err.message} (statuses: ${statuses.join(', ')})`)));
      const waiting = await staged(['status', batchId]);
      expect(waiting.stdout).toMatch(/only held experiments are left/);
      await stagedJson(['change', batchId, 'exp3', '--release']);
      const summary = await batchSummary(handle);
      expect(summary.experiments.map((e) => [e.name, e.status])).toEqual([
        ['exp1_first', 'completed'],
        ['exp4_d', 'completed'],
        ['exp9_added', 'completed'],
        ['exp2_b', 'completed'],
        ['exp3_c', 'completed'],
      ]);
    });

    const entries = await readJournal(journal);
    const starts = entries.filter((entry) => entry.event === 'start').sort((a, b) => a.atMs - b.atMs);
    // The batch starts them in this order (its summary above); two started in one task, when slots are free and
    // places freed together, may begin their processes in either order, but none overtakes one two places ahead.
    const expectedOrder = ['exp1_first', 'exp4_d', 'exp9_added', 'exp2_b', 'exp3_c'];
    const position = new Map(starts.map((entry, i) => [entry.name, i]));
    const overtaken = expectedOrder.flatMap((name, i) =>
      expectedOrder
        .slice(i + 2)
        .flatMap((later) => (position.get(later)! < position.get(name)! ? [[name, later]] : [])),
    );
    expect(starts).toHaveLength(expectedOrder.length);
    expect(overtaken).toEqual([]);
    expect(maxOverlap(entries)).toBeLessThanOrEqual(2);
    const ended = await staged(['pause', batchId]);
    expect([ended.exitCode, ended.stderr]).toEqual([2, expect.stringMatching(/has ended: it takes no changes/)]);
    // Before: the batch's cancel said it cancelled (exit 0), the experiment's gave Temporal's words (exit 1).
    for (const args of [[], ['--experiment', 'exp2_b']]) {
      const cancel = await staged(['cancel', batchId, ...args]);
      expect([cancel.exitCode, cancel.stdout, cancel.stderr]).toEqual([
        2,
        '',
        expect.stringMatching(new RegExp(`batch ${batchId} has ended: nothing to cancel`)),
      ]);
    }
  },
  300_000,
);

test(
  'a batch that continued as new takes experiments added after its worker was replaced, and a new --max-retries ' +
    'reaches an experiment already running',
  async () => {
    const { dir, journal } = await tempExperimentsDir('steer-can');
    const gate = path.join(dir, 'gate');
    for (let i = 1; i <= 20; i++) await writeScript(dir, `exp${i}_quick`, journal, { body: 'true' });
    await writeScript(dir, 'exp50_gated', journal, {
      title: 'Runs last.\n#\n# Priority: low',
      body: `while [ ! -e "${gate}" ]; do sleep 0.1; done; [ "$STAGED_ATTEMPT" -ge 2 ]`,
    });
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 1, maxRetries: 0, historyLimit: 100 });
    const handle = await startBatch(server.env, state);

    const first = await startWorker(server.env, taskQueue, 2);
    await first.runUntil(async () => {
      await started(journal, 'exp50_gated');
      await until(async () => (await queryBatchState(handle)).generation >= 1, 30_000, 'continued as new');
    });

    const second = await startWorker(server.env, taskQueue, 2);
    const summary = await second.runUntil(async () => {
      await writeScript(dir, 'exp60_late', journal, { body: 'true' });
      const added = await stagedJson(['add', state.batchId, path.join(dir, 'exp60_late.sh')]);
      expect(added.experiments).toEqual([{ name: 'exp60_late', priority: 'medium', status: 'queued', place: 1 }]);
      expect((await stagedJson(['change', state.batchId, '--max-retries', '1'])).maxRetries).toBe(1);
      await writeFile(gate, '');
      return batchSummary(handle);
    });

    const byName = Object.fromEntries(summary.experiments.map((e) => [e.name, e]));
    expect(summary.experiments).toHaveLength(22);
    expect(summary.experiments.every((e) => e.status === 'completed')).toBe(true);
    // It failed its first run, and the retry the change allowed completed it.
    expect(byName.exp50_gated.attempts).toBe(2);
    expect(byName.exp60_late.attempts).toBe(1);
  },
  180_000,
);

test(
  'lowering --max-retries below the failed runs of an experiment waiting its retry delay ends it failed at once, ' +
    'and its batch ends',
  async () => {
    const { dir, journal } = await tempExperimentsDir('steer-lowered');
    await writeScript(dir, 'exp1_failing', journal, { body: 'echo "no data" >&2; exit 3' });
    const { taskQueue, state } = await batchIn(dir, { maxRetries: 3, retryDelayMs: 10 * 60_000 });
    const worker = await startWorker(server.env, taskQueue, 2);
    const handle = await startBatch(server.env, state);
    const status = await worker.runUntil(async () => {
      const retrying = async () => (await queryBatchState(handle)).records[0]?.status === 'retrying';
      await until(retrying, 60_000, 'exp1_failing to wait its retry delay');
      expect((await stagedJson(['change', state.batchId, '--max-retries', '0'])).maxRetries).toBe(0);
      // Before: the retry ran 10 minutes later, and the batch waited for it.
      const ended = async () => (await handle.describe()).status.name === 'COMPLETED';
      await until(ended, 30_000, 'the batch to end once its only experiment failed');
      const { records } = await queryBatchState(handle);
      expect(records[0]).toMatchObject({ status: 'failed', attempts: 1, exitCode: 3, reason: 'exit-code' });
      expect(records[0].retryAt).toBeUndefined();
      return staged(['status', state.batchId]);
    });
    const summary = await batchSummary(handle);
    expect(summary.experiments).toEqual([
      expect.objectContaining({ name: 'exp1_failing', status: 'failed', attempts: 1, exitCode: 3 }),
    ]);
    expect((await readJournal(journal)).filter((entry) => entry.event === 'start')).toHaveLength(1);
    // As after its last allowed failure: no retry shown, nor any time it would start at.
    expect(status.stdout).toMatch(/\[FAILED\] exp1_failing attempt 1 exited with code 3/);
    expect(status.stdout).not.toMatch(/retry/i);
  },
  120_000,
);

test('a paused batch whose queued experiments (one held) are all cancelled ends with its running one', async () => {
  const { dir, journal } = await tempExperimentsDir('steer-empty');
  const gate = path.join(dir, 'gate');
  const body = `while [ ! -e "${gate}" ]; do sleep 0.1; done`;
  for (const name of ['exp1_runs', 'exp2_held', 'exp3_queued']) await writeScript(dir, name, journal, { body });
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 1, maxRetries: 0 });
  const worker = await startWorker(server.env, taskQueue, 2);
  const handle = await startBatch(server.env, state);
  const summary = await worker.runUntil(async () => {
    await started(journal, 'exp1_runs');
    await stagedJson(['change', state.batchId, 'exp2', '--hold']);
    await stagedJson(['pause', state.batchId]);
    for (const name of ['exp2_held', 'exp3_queued']) {
      expect((await staged(['cancel', state.batchId, '--experiment', name])).exitCode).toBe(0);
    }
    await writeFile(gate, '');
    return batchSummary(handle);
  });
  expect(Object.fromEntries(summary.experiments.map((e) => [e.name, e.status]))).toEqual({
    exp1_runs: 'completed',
    exp2_held: 'cancelled',
    exp3_queued: 'cancelled',
  });
}, 120_000);
