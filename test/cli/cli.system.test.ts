/** The `staged` command line as a user runs it, against a real Temporal server. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { execa } from 'execa';
import type { BatchSummary } from '../../src/model/types.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { until } from '../helpers/processes.js';

const CLI = fileURLToPath(new URL('../../src/client.js', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../../experiments', import.meta.url));

const server = useTestServer();

function staged(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  return execa(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? path.dirname(EXAMPLES),
    env: { TEMPORAL_ADDRESS: server.env.address, ...options.env },
    reject: false,
  });
}

test('submit --json waits for the batch and prints its summary; exit 1 when an experiment failed', async () => {
  const { dir, journal } = await tempExperimentsDir('cli-submit');
  await writeScript(dir, 'exp1_ok', journal, { title: 'Production check' });
  await writeScript(dir, 'exp2_fails', journal, { body: 'exit 4' });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
  const batchId = `cli-${Math.random().toString(36).slice(2)}`;
  const args = ['submit', '--dir', dir, '--json', '--max-retries', '0', '--batch-id', batchId];
  const cliEnv = { STAGED_TASK_QUEUE: taskQueue };

  const result = await worker.runUntil(staged(args, { cwd: dir, env: cliEnv }));

  expect(result.exitCode).toBe(1);
  const summary: BatchSummary = JSON.parse(String(result.stdout));
  expect(summary.batchId).toBe(batchId);
  expect(
    summary.experiments.map(({ id, name, priority, status, attempts, exitCode }) => ({
      id,
      name,
      priority,
      status,
      attempts,
      exitCode,
    })),
  ).toEqual([
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
  expect(JSON.parse(String(status.stdout))).toMatchObject({
    batchId,
    status: 'failed',
    counts: { completed: 1, failed: 1 },
  });
});

test('human output shows the header, START / DONE / FAIL lines and the summary', async () => {
  const { dir, journal } = await tempExperimentsDir('cli-human');
  await writeScript(dir, 'exp1_ok', journal, { title: 'Adaptive run' });
  await writeScript(dir, 'exp2_flaky', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ]' });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
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

describe('error paths: one readable line, no stack trace, and a JSON error with --json', () => {
  test('a namespace that does not exist', async () => {
    const result = await staged(['status', '--json'], { env: { TEMPORAL_NAMESPACE: 'no-such-namespace' } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      `staged: namespace "no-such-namespace" does not exist at ${server.env.address} (set by TEMPORAL_NAMESPACE or ` +
        `a profile)`,
    );
    expect(JSON.parse(String(result.stdout)).error.exitCode).toBe(2);
  });
});

/** Waits for `<dir>/_release`, so the test decides when a script ends. */
const WAIT_FOR_RELEASE =
  'i=0; while [ ! -e "$(dirname "$0")/_release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done';

test(
  'watch on a finished batch exits with its outcome; the batch list shows failed and cancelled batches as ' + 'such',
  async () => {
    const { dir, journal } = await tempExperimentsDir('cli-outcome');
    await writeScript(dir, 'exp1_ok', journal);
    await writeScript(dir, 'exp2_fails', journal, { body: 'exit 5' });
    const waiting = await tempDir('cli-outcome-wait');
    await writeScript(waiting, 'exp1_waits', journal, { body: WAIT_FOR_RELEASE });
    const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
    const env = { STAGED_TASK_QUEUE: taskQueue };
    const failed = `failed-${Date.now()}`;
    const cancelled = `cancelled-${Date.now()}`;
    const completed = `completed-${Date.now()}`;

    await worker.runUntil(async () => {
      expect(
        (
          await staged(['submit', '--dir', dir, '--max-retries', '0', '--batch-id', failed, '--json'], {
            cwd: dir,
            env,
          })
        ).exitCode,
      ).toBe(1);
      expect(
        (
          await staged(['submit', '--dir', dir, '--experiments', 'exp1', '--batch-id', completed, '--json'], {
            cwd: dir,
            env,
          })
        ).exitCode,
      ).toBe(0);
      expect(
        (await staged(['submit', '--dir', waiting, '--batch-id', cancelled, '--detach'], { cwd: waiting, env }))
          .exitCode,
      ).toBe(0);
      expect((await staged(['cancel', cancelled], { cwd: waiting, env })).exitCode).toBe(0);
      await server.env.client.workflow.getHandle(cancelled).result();

      expect((await staged(['watch', failed], { cwd: dir, env })).exitCode).toBe(1);
      expect((await staged(['watch', completed], { cwd: dir, env })).exitCode).toBe(0);
      expect((await staged(['watch', cancelled], { cwd: waiting, env })).exitCode).toBe(1);

      let listed: Record<string, string> = {};
      await until(
        async () => {
          const list = await staged(['status', '--json'], { env });
          listed = Object.fromEntries(
            JSON.parse(String(list.stdout)).batches.map((b: { batchId: string; status: string }) => [
              b.batchId,
              b.status,
            ]),
          );
          return listed[cancelled] === 'cancelled' && listed[failed] === 'failed';
        },
        20_000,
        'the batch list to show the outcomes',
      ).catch(() => undefined);
      expect([listed[failed], listed[cancelled], listed[completed]]).toEqual(['failed', 'cancelled', 'completed']);
    });
  },
);

test(
  'cancel --experiment and logs refuse an id several experiments share, listing them; a name picks ' + 'one',
  async () => {
    const { dir, journal } = await tempExperimentsDir('cli-ambiguous');
    await writeScript(dir, 'exp6_alpha', journal, { body: `echo alpha; ${WAIT_FOR_RELEASE}` });
    await writeScript(dir, 'exp6_beta', journal, { body: `echo beta; ${WAIT_FOR_RELEASE}` });
    const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
    const env = { STAGED_TASK_QUEUE: taskQueue };
    const batchId = `ambiguous-${Date.now()}`;

    await worker.runUntil(async () => {
      expect(
        (await staged(['submit', '--dir', dir, '--batch-id', batchId, '--detach'], { cwd: dir, env })).exitCode,
      ).toBe(0);
      await until(async () => (await readJournal(journal)).length === 2, 30_000, 'both experiments to start');
      const listing =
        `"exp6" is ambiguous in batch "${batchId}": it is the id of exp6_alpha, exp6_beta; give the ` + `name of one`;

      const cancel = await staged(['cancel', batchId, '--experiment', 'exp6'], { cwd: dir, env });
      expect(cancel.exitCode).toBe(2);
      expect(cancel.stderr).toBe(`staged: ${listing}`);
      const logs = await staged(['logs', batchId, 'exp6'], { cwd: dir, env });
      expect(logs.exitCode).toBe(2);
      expect(logs.stderr).toBe(`staged: ${listing}`);

      await until(
        async () => String((await staged(['logs', batchId, 'exp6_beta'], { cwd: dir, env })).stdout) === 'beta',
        10_000,
        'the log of exp6_beta',
      );
      const one = await staged(['cancel', batchId, '--experiment', 'exp6_alpha'], { cwd: dir, env });
      expect(one.exitCode).toBe(0);
      const statusOf = async (name: string) =>
        JSON.parse(String((await staged(['status', batchId, '--json'], { cwd: dir, env })).stdout)).experiments.find(
          (e: { name: string }) => e.name === name,
        )?.status;
      await until(async () => (await statusOf('exp6_alpha')) === 'cancelled', 30_000, 'exp6_alpha to be cancelled');
      expect(await statusOf('exp6_beta')).toBe('running');
      await writeFile(path.join(dir, '_release'), '');
      const summary = await server.env.client.workflow.getHandle(batchId).result();
      expect(summary).toBeDefined();
      const status = JSON.parse(String((await staged(['status', batchId, '--json'], { cwd: dir, env })).stdout));
      expect(status.experiments.map((e: { name: string; status: string }) => [e.name, e.status])).toEqual([
        ['exp6_alpha', 'cancelled'],
        ['exp6_beta', 'completed'],
      ]);
    });
  },
);

test('submit --json interrupted by Ctrl-C prints {"batchId"} and exits 130; the batch runs on', async () => {
  const { dir, journal } = await tempExperimentsDir('cli-sigint');
  await writeScript(dir, 'exp1_waits', journal, { body: WAIT_FOR_RELEASE });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 1);
  const batchId = `sigint-${Date.now()}`;

  await worker.runUntil(async () => {
    const submit = staged(['submit', '--dir', dir, '--batch-id', batchId, '--json'], {
      cwd: dir,
      env: { STAGED_TASK_QUEUE: taskQueue },
    });
    await until(async () => (await readJournal(journal)).length === 1, 30_000, 'the experiment to start');
    submit.kill('SIGINT');
    const result = await submit;
    expect(result.exitCode).toBe(130);
    expect(JSON.parse(String(result.stdout))).toEqual({ batchId });
    expect((await server.env.client.workflow.getHandle(batchId).describe()).status.name).toBe('RUNNING');
    await writeFile(path.join(dir, '_release'), '');
    await server.env.client.workflow.getHandle(batchId).result();
  });
});

describe("the user's directory", () => {
  const packageRoot = fileURLToPath(new URL('../../..', import.meta.url));

  test(
    'npm --prefix … run submit from another directory runs there: relative --dir, config, scripts, results; ' +
      'hints say npm --prefix',
    async () => {
      const dir = await tempDir('cli-init-cwd');
      await mkdir(path.join(dir, 'exps'));
      await writeFile(path.join(dir, 'exps', 'exp1_where.sh'), '#!/bin/sh\n# Someday maybe\npwd > where.txt\n', {
        mode: 0o755,
      });
      await writeFile(
        path.join(dir, 'staged.config.json'),
        JSON.stringify({ priority: { keywords: { low: ['someday'] } } }),
      );
      const { taskQueue, worker } = await workerOnOwnQueue(server.env, 1);
      const batchId = `init-cwd-${Date.now()}`;
      const npm = (args: string[]) =>
        execa('npm', ['--prefix', packageRoot, 'run', '-s', ...args], {
          cwd: dir,
          env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
          reject: false,
        });

      await worker.runUntil(async () => {
        const dryRun = await npm(['submit', '--', '--dir', 'exps', '--dry-run', '--json']);
        expect(dryRun.exitCode).toBe(0);
        expect(JSON.parse(String(dryRun.stdout)).experiments).toEqual([
          { id: 'exp1', name: 'exp1_where', priority: 'low', reason: expect.stringContaining('someday') },
        ]);
        const detached = await npm(['submit', '--', '--dir', 'exps', '--batch-id', batchId, '--detach']);
        expect(detached.exitCode).toBe(0);
        expect(String(detached.stdout)).toContain(
          `Follow it with: npm --prefix ${path.resolve(packageRoot)} run watch -- ${batchId}`,
        );
        expect((await npm(['watch', '--', batchId])).exitCode).toBe(0);
      });
      expect((await readFile(path.join(dir, 'where.txt'), 'utf8')).trim()).toBe(dir);
      expect(
        JSON.parse(await readFile(path.join(dir, 'results', batchId, 'summary.json'), 'utf8')).experiments[0].status,
      ).toBe('completed');
    },
  );

  test('npm run worker from another directory serves that directory, and runs a batch submitted there', async () => {
    const dir = await tempDir('cli-npm-worker');
    await mkdir(path.join(dir, 'exps'));
    await writeFile(path.join(dir, 'exps', 'exp1_where.sh'), '#!/bin/sh\n# here\npwd > where.txt\n', { mode: 0o755 });
    const env = {
      TEMPORAL_ADDRESS: server.env.address,
      STAGED_TASK_QUEUE: `npm-worker-${Date.now()}`,
      STAGED_RUNS_DIR: path.join(dir, 'runs'),
    };
    const npm = (args: string[]) =>
      execa('npm', ['--prefix', packageRoot, 'run', '-s', ...args], { cwd: dir, env, reject: false, detached: true });
    const worker = npm(['worker']);
    try {
      let output = '';
      worker.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await until(() => output.includes('staged worker: '), 60_000, 'the worker to start');
      expect(output).toContain(`serves ${dir};`);
      const batchId = `npm-worker-${Date.now()}`;
      expect((await npm(['submit', '--', '--dir', 'exps', '--batch-id', batchId, '--detach'])).exitCode).toBe(0);
      await server.env.client.workflow.getHandle(batchId).result();
      expect((await readFile(path.join(dir, 'where.txt'), 'utf8')).trim()).toBe(dir);
    } finally {
      process.kill(-worker.pid!, 'SIGKILL');
      await worker;
    }
  });

  test('--work-dir names another directory; run directly, hints show the command that was run', async () => {
    const dir = await tempDir('cli-work-dir');
    await writeScript(path.join(dir), 'exp1_here', path.join(dir, '_journal'));
    const { taskQueue, worker } = await workerOnOwnQueue(server.env, 1);
    const batchId = `work-dir-${Date.now()}`;
    await worker.runUntil(async () => {
      const result = await staged(['submit', '--work-dir', dir, '--dir', '.', '--batch-id', batchId, '--detach'], {
        cwd: packageRoot,
        env: { STAGED_TASK_QUEUE: taskQueue },
      });
      expect(result.exitCode).toBe(0);
      expect(String(result.stdout)).toContain(
        `Follow it with: node ${path.relative(packageRoot, CLI)} watch ${batchId}`,
      );
      await server.env.client.workflow.getHandle(batchId).result();
    });
    expect(JSON.parse(await readFile(path.join(dir, 'results', batchId, 'batch.json'), 'utf8'))).toMatchObject({
      experimentsDir: dir,
      workDir: dir,
    });
  });
});
