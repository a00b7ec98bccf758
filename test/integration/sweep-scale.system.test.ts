/**
 * A 10,000-member sweep stays within the bounds a batch keeps (test/integration/scale.system.test.ts,
 * test/model/packed-state.test.ts): its workflow input, the first event of its history, under Temporal's 512 KB
 * payload warning, and its history well under 10,000 events. Two members run, then the batch is cancelled.
 */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { queryBatchState } from '../../src/batch-client/index.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';
import { tempExperimentsDir } from '../helpers/scripts.js';
import { stagedBinary } from '../helpers/cli.js';
import { until } from '../helpers/processes.js';

const MEMBERS = 10_000;
const MAX_PAYLOAD_BYTES = 512 * 1024;
const MAX_EVENTS_PER_RUN = 10_000;

const server = useTestServer();

const staged = (args: string[], cwd: string, taskQueue: string) =>
  stagedBinary(args, { cwd, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } });

test(`a ${MEMBERS}-member sweep's batch input stays under 512 KB; one member more is refused`, async () => {
  const { dir } = await tempExperimentsDir('sweep-scale');
  const file = path.join(dir, 'exp1_big_sweep.sh');
  const sweep = 'lr=1e-1,3e-2,1e-2,3e-3,1e-3,3e-4,1e-4,3e-5,1e-5,3e-6; seed=1..1000';
  await writeFile(file, `#!/bin/sh\n# A big sweep.\n# Sweep: ${sweep}\nexit 0\n`);
  await chmod(file, 0o755);
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
  const batchId = 'big-sweep';

  await worker.runUntil(async () => {
    const started = Date.now();
    const submit = await staged(
      ['submit', '--dir', dir, '--detach', '--batch-id', batchId, '--max-concurrent', '2'],
      dir,
      taskQueue,
    );
    expect(submit.stderr).toBe('');
    expect(submit.exitCode).toBe(0);
    const submitMs = Date.now() - started;
    const handle = server.env.client.workflow.getHandle(batchId);
    await until(
      async () => (await queryBatchState(handle)).records.some((record) => record.status === 'completed'),
      30_000,
      'a first member to complete',
    );
    const state = await queryBatchState(handle);
    expect(state.experiments).toHaveLength(MEMBERS);
    expect(state.experiments[0]).toMatchObject({ name: 'exp1_big_sweep[lr=1e-1,seed=1]', params: { lr: '1e-1' } });
    expect(state.experiments[MEMBERS - 1].name).toBe('exp1_big_sweep[lr=3e-6,seed=1000]');
    expect((await staged(['cancel', batchId], dir, taskQueue)).exitCode).toBe(0);
    await handle.result().catch(() => undefined);

    const events = (await handle.fetchHistory()).events ?? [];
    const input = events[0].workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data?.length ?? 0;
    console.log(
      `[figure] ${MEMBERS}-member sweep: submit took ${submitMs} ms, input ${input} bytes, ${events.length} events`,
    );
    expect(input).toBeGreaterThan(0);
    expect(input).toBeLessThan(MAX_PAYLOAD_BYTES);
    expect(events.length).toBeLessThan(MAX_EVENTS_PER_RUN);
  });

  await writeFile(file, `#!/bin/sh\n# One too many.\n# Sweep: n=1..${MEMBERS + 1}\nexit 0\n`);
  const tooMany = await staged(['submit', '--dir', dir, '--dry-run'], dir, taskQueue);
  expect(tooMany.exitCode).toBe(2);
  expect(tooMany.stderr).toContain(`${file}:3: the sweep has 10001 members, more than a batch may hold (10000;`);
}, 90_000);
