/** Picking up where earlier batches left off, through the CLI. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { BatchSummary } from '../../src/model/types.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';
import { readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { CLI } from '../helpers/processes.js';

const server = useTestServer();

function staged(args: string[], cwd: string, taskQueue = 'unused') {
  return execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}

test(
  '--rerun-failed runs only what did not complete; --skip-completed leaves out what completed in any earlier ' +
    'batch',
  async () => {
    const { dir, journal } = await tempExperimentsDir('rerun');
    const flag = path.join(dir, '_fixed');
    await writeScript(dir, 'exp1_ok', journal);
    await writeScript(dir, 'exp2_broken_until_fixed', journal, { body: `[ -f "${flag}" ]` });
    await writeScript(dir, 'exp3_ok', journal);
    const { taskQueue, worker } = await workerOnOwnQueue(server.env, 3);
    const base = ['submit', '--dir', dir, '--json', '--max-retries', '0'];

    await worker.runUntil(async () => {
      const first = await staged([...base, '--batch-id', 'first'], dir, taskQueue);
      expect(first.exitCode).toBe(1);
      await writeFile(flag, '');
      await writeScript(dir, 'exp4_new', journal);

      const rerun = await staged([...base, '--batch-id', 'rerun', '--rerun-failed', 'first'], dir, taskQueue);
      expect(rerun.exitCode).toBe(0);
      expect((JSON.parse(String(rerun.stdout)) as BatchSummary).experiments.map((e) => e.name)).toEqual([
        'exp2_broken_until_fixed',
      ]);

      const dryRun = await staged(['submit', '--dir', dir, '--dry-run', '--json', '--skip-completed'], dir, taskQueue);
      expect(JSON.parse(String(dryRun.stdout)).experiments.map((e: { name: string }) => e.name)).toEqual(['exp4_new']);
      expect(dryRun.stderr).toContain(
        `[SKIP] 3 experiment(s) of ${dir} completed in an earlier batch and are left out`,
      );

      const nothingLeft = await staged([...base, '--rerun-failed', 'rerun'], dir, taskQueue);
      expect(nothingLeft.exitCode).toBe(2);
      expect(nothingLeft.stderr).toContain('the selection matches no experiment that did not complete in batch rerun');
    });

    const runs = (await readJournal(journal)).filter((e) => e.event === 'start').map((e) => e.name);
    expect(runs.sort()).toEqual(['exp1_ok', 'exp2_broken_until_fixed', 'exp2_broken_until_fixed', 'exp3_ok']);
  },
);

test('--skip-completed only skips experiments completed from the same experiments directory', async () => {
  const { dir: work, journal } = await tempExperimentsDir('skip-dirs');
  await mkdir(path.join(work, 'a'));
  await mkdir(path.join(work, 'b'));
  await writeScript(path.join(work, 'a'), 'exp1_same_name', journal);
  await writeScript(path.join(work, 'b'), 'exp1_same_name', journal);
  await writeScript(path.join(work, 'b'), 'exp2_other', journal);
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);

  await worker.runUntil(async () => {
    expect((await staged(['submit', '--dir', 'a', '--json'], work, taskQueue)).exitCode).toBe(0);
    const fromB = await staged(['submit', '--dir', 'b', '--skip-completed', '--json'], work, taskQueue);
    expect(fromB.exitCode).toBe(0);
    expect((JSON.parse(String(fromB.stdout)) as BatchSummary).experiments.map((e) => e.name)).toEqual([
      'exp1_same_name',
      'exp2_other',
    ]);
    expect(fromB.stderr).toContain(`[SKIP] 0 experiment(s) of ${path.join(work, 'b')}`);
    const againB = await staged(['submit', '--dir', 'b', '--skip-completed', '--dry-run'], work, taskQueue);
    expect(againB.exitCode).toBe(2);
    expect(againB.stderr).toContain('the selection matches no experiment that has not completed in an earlier batch');
  });
  expect((await readJournal(journal)).filter((e) => e.event === 'start')).toHaveLength(3);
});
