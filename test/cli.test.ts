/** The `staged` command line as a user runs it, against a real Temporal server. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import { execa } from 'execa';
import type { BatchSummary } from '../src/shared/types.js';
import { startWorker, uniqueQueue, useTestServer } from './helpers/temporal.js';
import { tempDir, writeScript } from './helpers/scripts.js';

const CLI = fileURLToPath(new URL('../src/client.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../experiments', import.meta.url));

const server = useTestServer();


function staged(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  return execa(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? path.dirname(EXAMPLES),
    env: { TEMPORAL_ADDRESS: server.env.address, ...options.env },
    reject: false,
  });
}

async function batchExists(batchId: string): Promise<boolean> {
  try {
    await server.env.client.workflow.getHandle(batchId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

describe('bad input: one clear message, exit code 2, nothing started', () => {
  test.each([
    ['an unknown experiment id', ['--experiments', 'exp999'], 'unknown experiment: exp999'],
    ['an unknown id in a list', ['--experiments', 'exp125,exp998,exp126'], 'unknown experiment: exp998'],
    ['--max-concurrent 0', ['--max-concurrent', '0'], '--max-concurrent must be an integer ≥ 1 (got "0")'],
    ['--max-concurrent negative', ['--max-concurrent', '-3'], '--max-concurrent must be an integer ≥ 1'],
    ['--max-concurrent not an integer', ['--max-concurrent', '2.5'], '--max-concurrent must be an integer ≥ 1'],
    ['--max-retries negative', ['--max-retries', '-1'], '--max-retries must be an integer ≥ 0'],
    ['--max-retries not an integer', ['--max-retries', 'many'], '--max-retries must be an integer ≥ 0'],
    ['an unknown priority level', ['--priority', 'urgent'], 'unknown priority level "urgent"'],
    ['a missing --dir', ['--dir', 'no-such-dir'], 'experiments directory not found'],
    ['a selection that matches nothing', ['--experiments', 'exp134', '--priority', 'high'], 'the selection matches no experiment'],
    ['a --timeout that does not parse', ['--timeout', '90 minutes'], '--timeout: "90 minutes" is not a duration'],
    ['an unknown option', ['--max-concurent', '3'], "unknown option '--max-concurent'"],
  ])('%s', async (_label, args, message) => {
    const batchId = `bad-input-${Math.random().toString(36).slice(2)}`;
    const result = await staged(['submit', '--batch-id', batchId, ...args]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(message);
    expect(await batchExists(batchId)).toBe(false);
  });

  test('an explicit address where no server answers', async () => {
    const result = await staged(['submit', '--priority', 'high'], { env: { TEMPORAL_ADDRESS: '127.0.0.1:1' } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('no Temporal server answers at 127.0.0.1:1');
  });
});

test('--dry-run --json lists the queue in start order with priorities and reasons, and starts nothing', async () => {
  const result = await staged(['submit', '--dry-run', '--json', '--priority', 'high', '--batch-id', 'dry-run-batch']);
  expect(result.exitCode).toBe(0);
  const { experiments } = JSON.parse(String(result.stdout));
  expect(experiments.map((e: { priority: string }) => e.priority)).toEqual([
    'critical',
    'critical',
    'critical',
    'high',
    'high',
    'high',
    'high',
    'high',
  ]);
  expect(experiments[3]).toEqual({
    id: 'exp125',
    name: 'exp125_adaptive_stop_loss',
    priority: 'high',
    reason: 'keyword "adaptive" in summary matched "Adaptive"',
  });
  expect(await batchExists('dry-run-batch')).toBe(false);
});

test('submit --json waits for the batch and prints its summary; exit 1 when an experiment failed', async () => {
  const dir = await tempDir('cli-submit');
  const journal = path.join(dir, '_journal');
  await writeScript(dir, 'exp1_ok', journal, { title: 'Production check' });
  await writeScript(dir, 'exp2_fails', journal, { body: 'exit 4' });
  const taskQueue = uniqueQueue();
  const worker = await startWorker(server.env, taskQueue, 2);
  const batchId = `cli-${Math.random().toString(36).slice(2)}`;
  const args = ['submit', '--dir', dir, '--json', '--max-retries', '0', '--batch-id', batchId];
  const cliEnv = { STAGED_TASK_QUEUE: taskQueue };

  const result = await worker.runUntil(staged(args, { cwd: dir, env: cliEnv }));

  expect(result.exitCode).toBe(1);
  const summary: BatchSummary = JSON.parse(String(result.stdout));
  expect(summary.batchId).toBe(batchId);
  expect(summary.experiments.map(({ id, name, priority, status, attempts, exitCode }) => ({ id, name, priority, status, attempts, exitCode }))).toEqual([
    { id: 'exp1', name: 'exp1_ok', priority: 'critical', status: 'completed', attempts: 1, exitCode: 0 },
    { id: 'exp2', name: 'exp2_fails', priority: 'medium', status: 'failed', attempts: 1, exitCode: 4 },
  ]);
  for (const experiment of summary.experiments) {
    expect(Date.parse(experiment.closedAt!)).toBeGreaterThanOrEqual(Date.parse(experiment.startedAt!));
  }

  const again = await staged(args, { cwd: dir, env: cliEnv });
  expect(again.exitCode).toBe(2);
  expect(again.stderr).toContain(`batch id "${batchId}" is already used`);

  const status = await staged(['status', batchId, '--json'], { cwd: dir });
  expect(status.exitCode).toBe(0);
  expect(JSON.parse(String(status.stdout))).toMatchObject({ batchId, status: 'completed', counts: { completed: 1, failed: 1 } });
});

test('human output shows the header, START / DONE / FAIL lines and the summary', async () => {
  const dir = await tempDir('cli-human');
  const journal = path.join(dir, '_journal');
  await writeScript(dir, 'exp1_ok', journal, { title: 'Adaptive run' });
  await writeScript(dir, 'exp2_flaky', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ]' });
  const taskQueue = uniqueQueue();
  const worker = await startWorker(server.env, taskQueue, 2);
  const args = ['submit', '--dir', dir, '--max-concurrent', '1', '--retry-delay', '200ms', '--status-interval', '1s'];

  const result = await worker.runUntil(staged(args, { cwd: dir, env: { STAGED_TASK_QUEUE: taskQueue } }));

  expect(result.exitCode).toBe(0);
  const out = String(result.stdout);
  expect(out).toContain('Max Concurrent: 1');
  expect(out).toContain('Queue Size: 2');
  expect(out).toMatch(/High: 1\n\s+Medium: 1/);
  expect(out).toContain('[START] exp1_ok (Priority: HIGH)');
  expect(out).toMatch(/\[DONE\] exp1_ok \(Duration: [\d.]+s\)/);
  expect(out).toMatch(/\[RETRY\] exp2_flaky attempt 1 failed \(exit 1\)/);
  expect(out).toMatch(/SUMMARY batch-\S+: 2 completed, 0 failed, 0 cancelled/);
  expect(out.indexOf('[START] exp1_ok')).toBeLessThan(out.indexOf('[START] exp2_flaky'));
});
