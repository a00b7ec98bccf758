/**
 * A sweep as a user sees it on a real server, through the CLI: `status` groups the members under their script
 * (counts, then each member), `status --json` gives each member's params and sweep, `watch` names members and
 * counts the sweep as they end, and summary.json / summary.md on disk carry the same.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { newBatchState } from '../../src/model/batch-state.js';
import type { BatchSummary, ExperimentSpec } from '../../src/model/types.js';
import type { LiveBatchView } from '../../src/cli/display/batch-view.js';
import { stagedBinary as staged } from '../helpers/cli.js';
import { CLI, until } from '../helpers/processes.js';
import { tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { startBatch, testSettings, useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';

const server = useTestServer();

// The CLI runs as its own process here: an in-process status polled under load left a gRPC retry timer behind that
// fired after its connection closed ("Channel has been shut down"), failing the next test file.

/** Members with seed=2 fail; those with seed=3 run until the gate file exists; the others complete. */
const SWEEP = 'exp140_lr_sweep';
const LRS = ['1e-3', '3e-4', '1e-4'];

function members(): ExperimentSpec[] {
  return LRS.flatMap((lr) =>
    [1, 2, 3].map((seed) => ({
      id: 'exp140',
      name: `${SWEEP}[lr=${lr},seed=${seed}]`,
      file: `${SWEEP}.sh`,
      priority: 'high' as const,
      params: { lr, seed: String(seed) },
    })),
  );
}

test('status, status --json, watch and the summary files show sweep members under their script', async () => {
  const { dir, journal } = await tempExperimentsDir('sweep-status');
  const gate = path.join(dir, '_gate');
  await writeScript(dir, 'exp101_base', journal);
  await writeScript(dir, SWEEP, journal, {
    body: [
      'case "$STAGED_EXPERIMENT" in',
      '  *seed=2*) exit 1 ;;',
      `  *seed=3*) while [ ! -f "${gate}" ]; do sleep 0.1; done ;;`,
      'esac',
    ].join('\n'),
  });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 4);
  const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxConcurrent: 2, maxRetries: 0 });
  const base: ExperimentSpec = { id: 'exp101', name: 'exp101_base', file: 'exp101_base.sh', priority: 'critical' };
  const state = newBatchState('sweep-view', [base, ...members()], settings, Date.now());
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };

  await worker.runUntil(async () => {
    await startBatch(server.env, state);
    // Both seed=3 members of the first two learning rates hold the two slots; the last three members wait.
    let view: LiveBatchView | undefined;
    await until(
      async () => {
        const json = await staged(['status', 'sweep-view', '--json'], cli);
        view = json.exitCode === 0 ? (JSON.parse(json.stdout) as LiveBatchView) : undefined;
        const counts = view?.sweeps?.[0]?.counts;
        return counts?.running === 2 && counts.completed === 2 && counts.failed === 2;
      },
      60_000,
      'two members running, two completed and two failed',
    );
    const member = view!.experiments.find((experiment) => experiment.name === `${SWEEP}[lr=3e-4,seed=3]`);
    expect(member).toMatchObject({ sweep: SWEEP, params: { lr: '3e-4', seed: '3' }, status: 'running' });
    expect(view!.experiments[0]).not.toHaveProperty('sweep');
    expect(view!.sweeps).toEqual([
      { sweep: SWEEP, members: 9, counts: expect.objectContaining({ completed: 2, failed: 2, running: 2, queued: 3 }) },
    ]);

    const text = await staged(['status', 'sweep-view'], cli);
    expect(text.exitCode).toBe(0);
    const lines = text.stdout.split('\n');
    const head = lines.indexOf(`  ${SWEEP}  sweep of 9: 2 completed, 2 failed, 2 running, 3 queued`);
    expect(head).toBeGreaterThan(0);
    expect(lines.slice(head + 1, head + 10).map((line) => line.replace(/^( {4}- \S+).*$/, '$1'))).toEqual(
      LRS.flatMap((lr) => [1, 2, 3].map((seed) => `    - [lr=${lr},seed=${seed}]`)),
    );
    expect(lines[head + 3]).toMatch(/^ {4}- \[lr=1e-3,seed=3\] +running +.*attempt 1/);
    expect(lines[head + 2]).toMatch(/^ {4}- \[lr=1e-3,seed=2\] +failed +attempt 1, exit 1$/);
    expect(lines).not.toContain('  Currently running:');

    const memo = (await server.env.client.workflow.getHandle(`sweep-view/${SWEEP}[lr=1e-3,seed=3]`).describe()).memo;
    expect(memo).toMatchObject({ sweep: SWEEP, params: { lr: '1e-3', seed: '3' } });

    const watch = execa(process.execPath, [CLI, 'watch', 'sweep-view', '--status-interval', '1s'], {
      ...cli,
      reject: false,
    });
    let seen = '';
    watch.stdout?.on('data', (chunk: Buffer) => (seen += chunk.toString()));
    await until(() => seen.includes('[STATUS]'), 60_000, 'watch to show the batch');
    await writeFile(gate, '');
    const watched = await watch;
    expect(watched.exitCode).toBe(1);
    const out = String(watched.stdout).split('\n');
    expect(out).toContain(`[START] ${SWEEP}[lr=1e-4,seed=1] (Priority: HIGH)`);
    expect(out).toContainEqual(expect.stringMatching(/^\[FAIL\] exp140_lr_sweep\[lr=1e-4,seed=2\] after 1 attempt/));
    expect(out).toContain(`[SWEEP] ${SWEEP}  sweep of 9: 6 completed, 3 failed`);
    expect(out).toContain(`${SWEEP}  sweep of 9: 6 completed, 3 failed`);
  });

  const summary = JSON.parse(await readFile(path.join(dir, 'results', 'sweep-view', 'summary.json'), 'utf8'));
  expect((summary as BatchSummary).experiments.slice(0, 2)).toEqual([
    expect.not.objectContaining({ sweep: expect.anything() }),
    expect.objectContaining({ sweep: SWEEP, params: { lr: '1e-3', seed: '1' }, status: 'completed' }),
  ]);
  const markdown = await readFile(path.join(dir, 'results', 'sweep-view', 'summary.md'), 'utf8');
  expect(markdown).toContain(`## ${SWEEP}\n\nsweep of 9: 6 completed, 3 failed\n\n| member | lr | seed | status |`);
  expect(markdown).toContain(`| ${SWEEP}[lr=1e-4,seed=2] | 1e-4 | 2 | failed | 1 |`);

  const finished = await staged(['status', 'sweep-view', '--json'], cli);
  expect(JSON.parse(finished.stdout).sweeps).toEqual([
    { sweep: SWEEP, members: 9, counts: expect.objectContaining({ completed: 6, failed: 3 }) },
  ]);
});
