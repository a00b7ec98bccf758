/**
 * History that lasts: the dev server keeps finished batches 30 days (or --retention), and a batch
 * whose workflows are gone is still usable from its files: status, logs, --rerun-failed,
 * --skip-completed; its id is never reused.
 */
import { createInterface } from 'node:readline';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Connection, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { execa } from 'execa';
import { retentionOf } from '../../src/server/retention.js';
import type { BatchSummary } from '../../src/model/types.js';
import { CLI, until } from '../helpers/processes.js';
import { freePort } from '../../src/server/dev-server-process.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';

const server = useTestServer();
const DAY_MS = 86_400_000;

function staged(args: string[], cwd: string, taskQueue = 'unused') {
  return execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}

/** Runs `staged server` on free ports until its ready line, returns the namespace's retention, and stops it. */
async function serverRetention(extraArgs: string[], env: Record<string, string> = {}): Promise<number> {
  const dir = await tempDir('retention');
  const port = await freePort();
  const child = execa(
    process.execPath,
    [CLI, 'server', '--port', String(port), '--ui-port', String(await freePort()), ...extraArgs],
    {
      cwd: dir,
      env: { ...env, TEMPORAL_ADDRESS: '' },
      reject: false,
      buffer: false,
      stdout: 'pipe',
      stderr: 'inherit',
    },
  );
  try {
    const lines = createInterface({ input: child.stdout });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server did not get ready in 60s')), 60_000);
      lines.on('line', (line) => line.startsWith('[OK] Temporal dev server') && (clearTimeout(timer), resolve()));
    });
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      return await retentionOf(connection, 'default');
    } finally {
      await connection.close();
    }
  } finally {
    child.kill('SIGTERM');
    await child;
  }
}

test('npm run server keeps finished workflows 30 days by default, or --retention / STAGED_RETENTION', async () => {
  expect(await serverRetention([])).toBe(30 * DAY_MS);
  expect(await serverRetention(['--retention', '45d'])).toBe(45 * DAY_MS);
  expect(await serverRetention([], { STAGED_RETENTION: '7d' })).toBe(7 * DAY_MS);
}, 180_000);

test('a retention under a day or that does not parse is refused before anything starts', async () => {
  const dir = await tempDir('retention-bad');
  const short = await staged(['server', '--retention', '2h'], dir);
  expect(short.exitCode).toBe(2);
  expect(short.stderr).toContain('--retention: "2h" is too short');
  const garbage = await staged(['server', '--retention', 'forever'], dir);
  expect(garbage.exitCode).toBe(2);
  expect(garbage.stderr).toContain('--retention: "forever" is not a duration');
});

/** The dev server deletes a workflow some 40-60 s after it was asked to. */
async function deleteWorkflow(client: Client, workflowId: string): Promise<void> {
  await client.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId } });
  await until(
    async () => {
      try {
        await client.workflow.getHandle(workflowId).describe();
        return false;
      } catch (err) {
        return err instanceof WorkflowNotFoundError;
      }
    },
    120_000,
    `${workflowId} to be deleted`,
  );
}

test(
  'a batch whose workflows are gone: status, logs, --rerun-failed and --skip-completed use its files; its id is ' +
    'not reused',
  async () => {
    const { dir, journal } = await tempExperimentsDir('gone');
    await writeScript(dir, 'exp1_ok', journal, { body: 'echo "output of exp1"' });
    await writeScript(dir, 'exp2_fails', journal, { body: 'echo "output of exp2"; exit 3' });
    const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
    const client = server.env.client;
    const batchId = `gone-${Date.now()}`;

    await worker.runUntil(async () => {
      const first = await staged(
        ['submit', '--dir', '.', '--batch-id', batchId, '--max-retries', '0', '--json'],
        dir,
        taskQueue,
      );
      expect(first.exitCode).toBe(1);
      await until(
        async () => (await readFile(path.join(dir, 'results', batchId, 'summary.json'), 'utf8').catch(() => '')) !== '',
        10_000,
        'summary.json',
      );
      await Promise.all(
        [batchId, `${batchId}/exp1_ok`, `${batchId}/exp2_fails`].map((id) => deleteWorkflow(client, id)),
      );

      const status = await staged(['status', batchId, '--json'], dir, taskQueue);
      expect(status.exitCode).toBe(0);
      expect(JSON.parse(String(status.stdout))).toMatchObject({ batchId, counts: { completed: 1, failed: 1 } });
      const human = await staged(['status', batchId], dir, taskQueue);
      expect(String(human.stdout)).toContain(`SUMMARY ${batchId}: 1 completed, 1 failed, 0 cancelled`);
      expect(String(human.stdout)).toContain('Temporal no longer keeps this batch');

      const logs = await staged(['logs', batchId, 'exp2'], dir, taskQueue);
      expect(logs.exitCode).toBe(0);
      expect(String(logs.stdout)).toBe('output of exp2');

      const watch = await staged(['watch', batchId], dir, taskQueue);
      expect(watch.exitCode).toBe(1);

      const reused = await staged(['submit', '--dir', '.', '--batch-id', batchId], dir, taskQueue);
      expect(reused.exitCode).toBe(2);
      expect(reused.stderr).toContain(
        `batch id "${batchId}" is already used: ${path.join(dir, 'results', batchId)} exists`,
      );

      const skip = await staged(['submit', '--dir', '.', '--skip-completed', '--dry-run', '--json'], dir, taskQueue);
      expect(skip.exitCode).toBe(0);
      expect(JSON.parse(String(skip.stdout)).experiments.map((e: { name: string }) => e.name)).toEqual(['exp2_fails']);
      expect(skip.stderr).toContain('[SKIP] 1 experiment(s)');

      const rerun = await staged(
        ['submit', '--dir', '.', '--rerun-failed', batchId, '--max-retries', '0', '--json'],
        dir,
        taskQueue,
      );
      expect(rerun.exitCode).toBe(1);
      expect((JSON.parse(String(rerun.stdout)) as BatchSummary).experiments.map((e) => e.name)).toEqual(['exp2_fails']);
    });
    const starts = (await readJournal(journal)).filter((e) => e.event === 'start').map((e) => e.name);
    expect(starts.sort()).toEqual(['exp1_ok', 'exp2_fails', 'exp2_fails']);
  },
  240_000,
);
