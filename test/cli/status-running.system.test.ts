/**
 * `status` of a running batch of 1,000 at concurrency 20, as a user runs it: the binary, which loads only the protobuf
 * definitions of its calls (batch-client/status-root.ts). First 20 experiments held running, then the batch refilling
 * its slots, then the batch cancelled and read from its result, and in the list of recent batches.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LiveBatchView } from '../../src/cli/display/batch-view.js';
import { stagedBinary as staged } from '../helpers/cli.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { batchStateFor, startBatch, testSettings, useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';

const server = useTestServer();

const COUNT = 1000;
const SLOTS = 20;
const BATCH = 'status-1000';

test('status and status --json of a running 1,000 batch at concurrency 20, and of it once cancelled', async () => {
  const dir = await tempDir('status-running');
  const gate = path.join(dir, '_gate');
  for (let index = 1; index <= COUNT; index++) {
    const script = `#!/bin/sh\nwhile [ ! -f "${gate}" ]; do sleep 0.2; done\n`;
    await writeFile(path.join(dir, `exp${index}_step.sh`), script, { mode: 0o755 });
  }
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, SLOTS);
  const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxConcurrent: SLOTS, maxRetries: 0 });
  const state = await batchStateFor(settings, BATCH);
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };
  const statusJson = async () => {
    const { exitCode, stdout, stderr } = await staged(['status', BATCH, '--json'], cli);
    expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: '' });
    return JSON.parse(stdout) as LiveBatchView;
  };
  const total = (view: LiveBatchView) => Object.values(view.counts).reduce((sum, count) => sum + count, 0);

  await worker.runUntil(async () => {
    await startBatch(server.env, state);
    let held: LiveBatchView | undefined;
    await until(
      async () => (held = await statusJson()).counts.running === SLOTS,
      120_000,
      `${SLOTS} experiments running`,
    );
    expect(held!).toMatchObject({ batchId: BATCH, status: 'running', maxConcurrent: SLOTS });
    expect(held!.counts).toMatchObject({ queued: COUNT - SLOTS, running: SLOTS, completed: 0, failed: 0 });
    expect(held!.experiments).toHaveLength(COUNT);
    const firsts = Array.from({ length: SLOTS }, (_, index) => `exp${index + 1}_step`);
    expect(held!.experiments.filter((experiment) => experiment.status === 'running').map(({ name }) => name)).toEqual(
      firsts,
    );
    expect(held!.experiments[0]).toMatchObject({ id: 'exp1', attempts: 1, exitCode: null, closedAt: null });

    const text = await staged(['status', BATCH], cli);
    expect(text.exitCode).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`Batch ${BATCH}: running`);
    expect(lines).toContain('[STATUS] Queue: 980 | Running: 20 | Completed: 0 | Failed: 0'); // no ETA before an end
    const running = lines.indexOf('  Currently running:');
    expect(running).toBeGreaterThan(0);
    expect(lines.slice(running + 1, running + 1 + SLOTS).map((line) => line.replace(/ \(.*$/, ''))).toEqual(
      firsts.map((name) => `    - ${name}`),
    );
    expect(lines[running + 1]).toMatch(/^ {4}- exp1_step \(.*attempt 1\)$/);

    // Slots refill as runs end: each status is whole and consistent while the batch moves.
    await writeFile(gate, '');
    let moving: LiveBatchView | undefined;
    await until(async () => (moving = await statusJson()).counts.completed >= 2 * SLOTS, 120_000, 'runs to end');
    expect(moving!.status).toBe('running');
    expect(total(moving!)).toBe(COUNT);
    expect(moving!.counts.running).toBeLessThanOrEqual(SLOTS);
    expect(moving!.experiments.filter((experiment) => experiment.status === 'completed')).toHaveLength(
      moving!.counts.completed,
    );

    const cancel = await staged(['cancel', BATCH], cli);
    expect(cancel.exitCode).toBe(0);
    let ended: LiveBatchView | undefined;
    await until(async () => (ended = await statusJson()).status !== 'running', 120_000, 'the batch to end');
    expect(ended!.status).toBe('cancelled');
    expect(total(ended!)).toBe(COUNT);
    expect(ended!.counts.cancelled).toBeGreaterThan(0);
    expect(ended!.counts.running).toBe(0);

    // The recent batches, from Temporal's list.
    await until(
      async () => {
        const recent = await staged(['status', '--json'], cli);
        const { batches } = JSON.parse(recent.stdout) as { batches: { batchId: string; status: string }[] };
        return batches.some((batch) => batch.batchId === BATCH && batch.status === 'cancelled');
      },
      60_000,
      'the recent batches to list it as cancelled',
    );
  });
});
