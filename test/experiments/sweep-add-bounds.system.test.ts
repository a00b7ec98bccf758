/**
 * `add` of a big sweep to a running batch (docs/sweeps.md): past `--max-experiments`, counting the batch's own, or
 * past what one Update carries, it is exit 2 before anything is sent, and the batch runs on.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stagedBinary } from '../helpers/cli.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';

const server = useTestServer();
/** Long enough for one short Python run to start on a loaded machine. */
const START_MS = 60_000;

test('adding 10,000 members to a running batch is exit 2 naming the limit, and 9,000 past 1 MB', async () => {
  const work = await tempDir('sweep-add-work');
  const release = path.join(await tempDir('sweep-add-control'), 'release');
  const experiments = path.join(work, 'experiments');
  await mkdir(experiments);
  const hold = [
    '"""Holds the batch open."""',
    'import os, time',
    'open("started", "w").close()',
    `while not os.path.exists(${JSON.stringify(release)}):`,
    '    time.sleep(0.05)',
    '',
  ].join('\n');
  await writeFile(path.join(experiments, 'exp1_hold.py'), hold);
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 1, [work]);
  const env = { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue };
  const staged = (args: string[]) => stagedBinary(args, { cwd: work, env });

  await worker.runUntil(async () => {
    expect((await staged(['submit', '--batch-id', 'big-1', '--detach'])).exitCode).toBe(0);
    await until(
      () =>
        readFile(path.join(work, 'started')).then(
          () => true,
          () => false,
        ),
      START_MS,
      'exp1',
    );

    await writeFile(path.join(experiments, 'exp2_big.py'), '"""Big.\n\nSweep: seed=1..10000\n"""\n');
    const tooMany = await staged(['add', 'big-1', 'experiments/exp2_big.py']);
    expect(tooMany.exitCode).toBe(2);
    expect(tooMany.stderr).toContain('the batch would hold 10001 experiments, more than 10000');

    await writeFile(
      path.join(experiments, 'exp2_big.py'),
      '"""Big.\n\nSweep: seed=1..9000; variant=baseline_with_warmup\n"""\n',
    );
    const tooBig = await staged(['add', 'big-1', 'experiments/exp2_big.py', '--max-experiments', '20000']);
    expect(tooBig.exitCode).toBe(2);
    expect(tooBig.stderr).toMatch(/the 9000 added experiments take \d+ KB, more than one add may carry \(1024 KB\)/);

    const status = await staged(['status', 'big-1', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'running', experiments: [{ name: 'exp1_hold' }] });
    await writeFile(release, '');
    await server.env.client.workflow.getHandle('big-1').result();
  });
});
