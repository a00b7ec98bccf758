/**
 * What a researcher sees of a batch, end to end against a real server and worker: progress in
 * `status --json`, search attributes and memos for the Web UI, `logs`, and the summary files.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import type { LiveBatchView } from '../../src/cli/display/batch-view.js';
import type { BatchSummary } from '../../src/model/types.js';
import { CLI, until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';

const server = useTestServer();

function staged(args: string[], cwd: string, taskQueue: string) {
  return execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}

/** Waits for `<dir>/_release`, so the test decides when the process ends, not a sleep. */
const WAIT_FOR_RELEASE =
  'i=0; while [ ! -e "$(dirname "$0")/_release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done';

async function script(dir: string, name: string, title: string, body: string): Promise<void> {
  await writeFile(path.join(dir, `${name}.sh`), `#!/bin/sh\n# ${title}\n${body}\n`, { mode: 0o755 });
}

async function workflowIds(client: Client, query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const workflow of client.workflow.list({ query })) ids.push(workflow.workflowId);
  return ids.sort();
}

/** Visibility is eventually consistent: asks until the answer is the expected one. */
async function expectQuery(client: Client, query: string, expected: string[]): Promise<void> {
  let last: string[] = [];
  await until(
    async () => {
      last = await workflowIds(client, query);
      return JSON.stringify(last) === JSON.stringify([...expected].sort());
    },
    20_000,
    `${query} to list ${expected.join(', ')}`,
  ).catch(() => {
    expect({ query, ids: last }).toEqual({ query, ids: [...expected].sort() });
  });
}

test('progress reaches status --json; search attributes, memos, logs and summary files follow the batch', async () => {
  const dir = await tempDir('visibility');
  await script(
    dir,
    'exp1_progress',
    'Critical production check',
    `echo "PROGRESS 3/10"\n${WAIT_FOR_RELEASE}\necho done-exp1`,
  );
  await script(
    dir,
    'exp2_tqdm',
    'Adaptive sweep',
    `printf '\\r  0%%|          | 0/100 [00:00<?, ?it/s]\\r 42%%|####      | 42/100 [00:10<00:14,  4.12it/s]' ` +
      `>&2\n${WAIT_FOR_RELEASE}`,
  );
  await script(
    dir,
    'exp3_flaky',
    'Priority: low',
    'if [ "$STAGED_ATTEMPT" = 1 ]; then echo "first attempt output"; exit 3; fi\necho "second attempt output"',
  );
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 3);
  const batchId = `visibility-${Date.now()}`;
  const client = server.env.client;

  await worker.runUntil(async () => {
    const submit = staged(
      ['submit', '--dir', dir, '--batch-id', batchId, '--max-concurrent', '3', '--retry-delay', '200ms', '--json'],
      dir,
      taskQueue,
    );

    // 1. Progress from both formats reaches `status --json`, with elapsed time and ETAs.
    let view: LiveBatchView | undefined;
    await until(
      async () => {
        const status = await staged(['status', batchId, '--json'], dir, taskQueue);
        if (status.exitCode !== 0) return false;
        view = JSON.parse(String(status.stdout)) as LiveBatchView;
        const byName = Object.fromEntries(view.experiments.map((experiment) => [experiment.name, experiment]));
        const retried = byName.exp3_flaky?.status === 'completed';
        return retried && byName.exp1_progress?.progress?.percent === 30 && byName.exp2_tqdm?.progress?.percent === 42;
      },
      60_000,
      'progress of exp1 and exp2, and exp3 retried to completion, in status --json',
    );
    const byName = Object.fromEntries(view!.experiments.map((experiment) => [experiment.name, experiment]));
    expect(byName.exp1_progress.progress).toEqual({ percent: 30, done: 3, total: 10 });
    expect(byName.exp2_tqdm.progress).toEqual({ percent: 42, done: 42, total: 100 });
    expect(byName.exp1_progress.attemptElapsedSeconds).toBeGreaterThanOrEqual(0);
    expect(byName.exp1_progress.etaSeconds).toEqual(expect.any(Number));
    expect(view!.status).toBe('running');
    expect(view!.counts.running).toBeGreaterThanOrEqual(2);
    expect(view!.eta?.seconds).toEqual(expect.any(Number));

    const human = await staged(['status', batchId], dir, taskQueue);
    expect(String(human.stdout)).toMatch(/exp1_progress \([\d.]+s, attempt 1, 30% 3\/10, ETA [\d.]+s\)/);
    expect(String(human.stdout)).toMatch(/\[STATUS\] Queue: 0 \| Running: 2 \| Completed: 1 \| Failed: 0 \| ETA: /);

    // 2. Search attributes, as the Web UI and `temporal workflow list --query` use them.
    const experimentId = (name: string) => `${batchId}/${name}`;
    await expectQuery(
      client,
      `StagedBatchId="${batchId}" AND StagedPriority="critical" AND ExecutionStatus="Running"`,
      [experimentId('exp1_progress')],
    );
    await expectQuery(client, `StagedBatchId="${batchId}" AND StagedStatus="running"`, [
      batchId,
      experimentId('exp1_progress'),
      experimentId('exp2_tqdm'),
    ]);
    const memo = (await client.workflow.getHandle(experimentId('exp1_progress')).describe()).memo;
    expect(memo).toMatchObject({ script: path.join(dir, 'exp1_progress.sh'), workDir: dir, maxRetries: 2 });

    // 3. `logs --follow` prints the output as it comes and ends with the experiment.
    const follow = staged(['logs', batchId, 'exp1', '--follow'], dir, taskQueue);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await writeFile(path.join(dir, '_release'), '');
    const followed = await follow;
    expect(followed.exitCode).toBe(0);
    expect(String(followed.stdout)).toBe('PROGRESS 3/10\ndone-exp1');

    const submitted = await submit;
    expect(submitted.exitCode).toBe(0);
    const printed = JSON.parse(String(submitted.stdout)) as BatchSummary;

    // 4. Final statuses are searchable too.
    await expectQuery(
      client,
      `StagedBatchId="${batchId}" AND WorkflowType="experimentWorkflow" AND StagedStatus="completed"`,
      ['exp1_progress', 'exp2_tqdm', 'exp3_flaky'].map(experimentId),
    );
    await expectQuery(
      client,
      `StagedBatchId="${batchId}" AND WorkflowType="batchWorkflow" AND StagedStatus="completed"`,
      [batchId],
    );

    // 5. `logs` per attempt.
    const latest = await staged(['logs', batchId, 'exp3_flaky'], dir, taskQueue);
    expect(String(latest.stdout)).toBe('second attempt output');
    const first = await staged(['logs', batchId, 'exp3', '--attempt', '1'], dir, taskQueue);
    expect(String(first.stdout)).toBe('first attempt output');
    const missing = await staged(['logs', batchId, 'exp3', '--attempt', '7'], dir, taskQueue);
    expect(missing.exitCode).toBe(2);
    expect(String(missing.stderr)).toContain('exp3_flaky has no attempt 7');
    const unknown = await staged(['logs', batchId, 'exp9'], dir, taskQueue);
    expect(unknown.exitCode).toBe(2);
    expect(String(unknown.stderr)).toContain(`batch "${batchId}" has no experiment "exp9"`);

    // 6. The summary files match `submit --json`.
    const summaryDir = path.join(dir, 'results', batchId);
    expect(JSON.parse(await readFile(path.join(summaryDir, 'summary.json'), 'utf8'))).toEqual(printed);
    expect(printed.experiments.map((experiment) => [experiment.name, experiment.status, experiment.attempts])).toEqual([
      ['exp1_progress', 'completed', 1],
      ['exp2_tqdm', 'completed', 1],
      ['exp3_flaky', 'completed', 2],
    ]);
    const markdown = await readFile(path.join(summaryDir, 'summary.md'), 'utf8');
    expect(markdown).toContain(`# Batch ${batchId}`);
    expect(markdown).toContain('3 completed, 0 failed, 0 cancelled');
    expect(markdown).toMatch(/\| exp3_flaky \| low \| completed \| 2 \| [\d.]+s \|/);
  });
});

test('watch on a terminal redraws its status block in place and ends with the summary', async () => {
  const dir = await tempDir('visibility-tty');
  await script(dir, 'exp1_steps', 'Model training', `echo "PROGRESS 1/4"\n${WAIT_FOR_RELEASE}\necho "PROGRESS 4/4"`);
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 1);
  const batchId = `tty-${Date.now()}`;

  await worker.runUntil(async () => {
    const submit = await staged(['submit', '--dir', dir, '--batch-id', batchId, '--detach'], dir, taskQueue);
    expect(submit.exitCode).toBe(0);
    // util-linux `script` gives `watch` a pseudo-terminal of 40 rows, as a user's terminal would.
    const command = `stty rows 40 cols 120; "${process.execPath}" "${CLI}" watch ${batchId}`;
    const watch = execa('script', ['-qfec', command, '/dev/null'], {
      cwd: dir,
      env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
      reject: false,
      buffer: false,
    });
    let screen = '';
    watch.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString('utf8')));
    await until(() => screen.includes('25% 1/4'), 30_000, 'the live view to show the progress');
    await writeFile(path.join(dir, '_release'), '');
    const { exitCode } = await watch;

    expect(exitCode).toBe(0);
    const eraseLine = '\u001b[2K';
    expect(screen.split(eraseLine).length).toBeGreaterThan(3);
    expect(screen).toMatch(/exp1_steps \([\d.]+s, attempt 1, 25% 1\/4/);
    expect(screen).toContain(`SUMMARY ${batchId}: 1 completed, 0 failed, 0 cancelled`);
    expect(screen).not.toContain('[STATUS] Queue: 0 | Running: 0 | Completed: 1');
  });
});
