/**
 * A worker runs only scripts inside the batch's experiments directory, inside the roots it serves:
 * an experiment workflow started by hand with an escaping path runs nothing and says why; the
 * connection's secrets never reach an experiment. Real server, real worker, real files.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { experimentWorkflow } from '../../src/workflows/experiment.js';
import type { BatchSettings, ExperimentRecord, ExperimentSpec } from '../../src/model/types.js';
import { testSettings, useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';
import { tempDir } from '../helpers/scripts.js';
import { until } from '../helpers/processes.js';

const server = useTestServer();

/** Starts an experiment workflow by hand, as a client that skips `submit`'s checks could, and waits for its record. */
async function runByHand(
  batchId: string,
  experiment: ExperimentSpec,
  settings: BatchSettings,
): Promise<ExperimentRecord> {
  return server.env.client.workflow.execute(experimentWorkflow, {
    workflowId: `by-hand-${randomUUID()}`,
    taskQueue: settings.taskQueue,
    args: [{ batchId, index: 0, experiment, settings: { ...settings, searchAttributes: false } }],
  });
}

/**
 * Starts an experiment workflow by hand whose directory its worker does not serve; once its run has been handed
 * back, cancels it (it would wait for a worker that serves it) and returns the hand-back's message.
 */
async function handedBack(experiment: ExperimentSpec, settings: BatchSettings): Promise<string> {
  const handle = await server.env.client.workflow.start(experimentWorkflow, {
    workflowId: `by-hand-${randomUUID()}`,
    taskQueue: settings.taskQueue,
    args: [{ batchId: 'b1', index: 0, experiment, settings: { ...settings, searchAttributes: false } }],
  });
  let message: string | undefined;
  await until(
    async () => {
      const { events } = await handle.fetchHistory();
      message =
        events?.find((event) => event.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes?.failure
          ?.message ?? undefined;
      return message !== undefined;
    },
    60_000,
    'the run to be handed back',
  );
  await handle.cancel();
  expect(await handle.result()).toMatchObject({ status: 'cancelled', attempts: 0 });
  return message!;
}

/** An executable that leaves `marker` behind if it ever runs. */
async function canary(file: string, marker: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `#!/bin/sh\necho ran > "${marker}"\nenv > "${marker}.env"\n`);
  await chmod(file, 0o755);
}

test(
  'escaping paths, symlinks out and names with ".." run nothing, saying why; a directory outside the served ' +
    'roots waits for a worker that serves it',
  async () => {
    const root = await tempDir('guard');
    const served = path.join(root, 'served');
    const experiments = path.join(served, 'experiments');
    const marker = path.join(root, '_ran');
    await canary(path.join(served, 'bin', 'x'), marker);
    await canary(path.join(root, 'outside', 'evil.sh'), marker);
    await canary(path.join(root, 'elsewhere', 'exp1_fine.sh'), marker);
    await mkdir(experiments, { recursive: true });
    await symlink(path.join(root, 'outside', 'evil.sh'), path.join(experiments, 'exp2_link.sh'));
    await canary(path.join(experiments, 'exp3_plain.sh'), marker);

    const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2, [served]);
    const settings = testSettings({ experimentsDir: experiments, workDir: served, taskQueue, maxRetries: 2 });
    const run = (experiment: ExperimentSpec, overrides: { batchId?: string; experimentsDir?: string } = {}) =>
      runByHand(overrides.batchId ?? 'b1', experiment, {
        ...settings,
        experimentsDir: overrides.experimentsDir ?? experiments,
      });
    const spec = (name: string, file: string): ExperimentSpec => ({ id: name, name, file, priority: 'high' });

    const { records, outsideRoots } = await worker.runUntil(async () => ({
      records: {
        escape: await run(spec('exp0_escape', '../bin/x')),
        link: await run(spec('exp2_link', 'exp2_link.sh')),
        dotdotName: await run(spec('..', 'exp3_plain.sh')),
        dotdotBatch: await run(spec('exp3_plain', 'exp3_plain.sh'), { batchId: '../b1' }),
      },
      outsideRoots: await handedBack(spec('exp1_fine', 'exp1_fine.sh'), {
        ...settings,
        experimentsDir: path.join(root, 'elsewhere'),
      }),
    }));

    for (const record of Object.values(records)) expect(record).toMatchObject({ status: 'failed', attempts: 0 });
    expect(records.escape.error).toMatch(/experiment file "\.\.\/bin\/x" contains "\/"/);
    expect(records.link.error).toMatch(/outside the experiments directory/);
    expect(records.dotdotName.error).toMatch(/experiment name "\.\." contains "\.\."/);
    expect(records.dotdotBatch.error).toMatch(/batch id "\.\.\/b1"/);
    expect(outsideRoots).toMatch(/outside the directories this worker serves .*: handed back, no live worker serves/);
    expect(existsSync(marker)).toBe(false);
  },
);

test("the Temporal connection's settings and secrets do not reach an experiment; the user's own keys do", async () => {
  const dir = await tempDir('secrets');
  const marker = path.join(dir, '_ran');
  await canary(path.join(dir, 'exp1_env.sh'), marker);
  process.env.TEMPORAL_API_KEY = 'temporal-secret';
  process.env.MARKETDATA_API_KEY = 'user-key';
  try {
    const { taskQueue, worker } = await workerOnOwnQueue(server.env, 1, [dir]);
    const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue });
    const experiment: ExperimentSpec = { id: 'exp1', name: 'exp1_env', file: 'exp1_env.sh', priority: 'high' };
    const record = await worker.runUntil(runByHand('b2', experiment, settings));
    expect(record.status).toBe('completed');
    const env = await readFile(`${marker}.env`, 'utf8');
    expect(env).not.toContain('TEMPORAL_API_KEY');
    expect(env).toContain('MARKETDATA_API_KEY=user-key');
    expect(env).toContain('STAGED_EXPERIMENT=exp1_env');
  } finally {
    delete process.env.TEMPORAL_API_KEY;
    delete process.env.MARKETDATA_API_KEY;
  }
});
