/** Sweeps on a real server, through the CLI: members run with their own arguments, environment, log and results. */
import { chmod, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { BatchSummary } from '../../src/model/types.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';
import { tempExperimentsDir } from '../helpers/scripts.js';
import { CLI } from '../helpers/processes.js';

const server = useTestServer();

function staged(args: string[], cwd: string, taskQueue = 'unused') {
  return execa(process.execPath, [CLI, ...args], {
    cwd,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
}

/** A swept shell script that journals what it was given; `lr=0.2, seed=2` fails until `flag` exists. */
async function gridScript(dir: string, journal: string, flag: string): Promise<void> {
  const file = path.join(dir, 'exp1_grid.sh');
  await writeFile(
    file,
    [
      '#!/bin/sh',
      '# A 2x2 grid.',
      '# Sweep: lr=0.1,0.2; seed=1..2',
      '# Args: --learning-rate={lr} --seed {seed}',
      `echo "$STAGED_EXPERIMENT|$*|$STAGED_PARAM_LR|$STAGED_PARAM_SEED" >> "${journal}"`,
      'echo "args $*"',
      'echo "$*" > "$STAGED_RESULTS_DIR/args.txt"',
      `if [ "$STAGED_PARAM_LR $STAGED_PARAM_SEED" = "0.2 2" ] && [ ! -f "${flag}" ]; then exit 3; fi`,
      '',
    ].join('\n'),
  );
  await chmod(file, 0o755);
}

async function journalLines(journal: string): Promise<string[]> {
  return (await readFile(journal, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

test('a 2x2 sweep: 4 members with own args, STAGED_PARAM_*, log, results; --rerun-failed reruns one', async () => {
  const { dir, journal } = await tempExperimentsDir('sweep');
  const flag = path.join(dir, '_fixed');
  await gridScript(dir, journal, flag);
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 4);
  const base = ['submit', '--dir', dir, '--json', '--max-retries', '0', '--max-concurrent', '4'];

  await worker.runUntil(async () => {
    const first = await staged([...base, '--batch-id', 'grid'], dir, taskQueue);
    expect(first.exitCode).toBe(1);
    const summary = JSON.parse(String(first.stdout)) as BatchSummary;
    expect(summary.experiments.map((e) => [e.name, e.status])).toEqual([
      ['exp1_grid[lr=0.1,seed=1]', 'completed'],
      ['exp1_grid[lr=0.1,seed=2]', 'completed'],
      ['exp1_grid[lr=0.2,seed=1]', 'completed'],
      ['exp1_grid[lr=0.2,seed=2]', 'failed'],
    ]);
    expect((await journalLines(journal)).sort()).toEqual([
      'exp1_grid[lr=0.1,seed=1]|--learning-rate=0.1 --seed 1|0.1|1',
      'exp1_grid[lr=0.1,seed=2]|--learning-rate=0.1 --seed 2|0.1|2',
      'exp1_grid[lr=0.2,seed=1]|--learning-rate=0.2 --seed 1|0.2|1',
      'exp1_grid[lr=0.2,seed=2]|--learning-rate=0.2 --seed 2|0.2|2',
    ]);
    expect((await readdir(path.join(dir, 'results', 'grid'))).filter((name) => name.startsWith('exp1')).sort()).toEqual(
      summary.experiments.map((e) => e.name),
    );
    const results = await readFile(path.join(dir, 'results', 'grid', 'exp1_grid[lr=0.2,seed=1]', 'args.txt'), 'utf8');
    expect(results).toBe('--learning-rate=0.2 --seed 1\n');
    const log = await staged(['logs', 'grid', 'exp1_grid[lr=0.1,seed=2]'], dir, taskQueue);
    expect(log.stdout).toContain('args --learning-rate=0.1 --seed 2');

    // One member by its name; the script's name, all of them.
    const one = await staged(
      ['submit', '--dir', dir, '--dry-run', '--json', '--experiments', 'exp1_grid[lr=0.1,seed=2]'],
      dir,
    );
    expect(JSON.parse(String(one.stdout)).experiments.map((e: { name: string }) => e.name)).toEqual([
      'exp1_grid[lr=0.1,seed=2]',
    ]);

    await writeFile(flag, '');
    const rerun = await staged([...base, '--batch-id', 'grid-rerun', '--rerun-failed', 'grid'], dir, taskQueue);
    expect(rerun.exitCode).toBe(0);
    expect((JSON.parse(String(rerun.stdout)) as BatchSummary).experiments.map((e) => e.name)).toEqual([
      'exp1_grid[lr=0.2,seed=2]',
    ]);
    const skip = await staged(['submit', '--dir', dir, '--dry-run', '--skip-completed'], dir, taskQueue);
    expect(skip.exitCode).toBe(2);
    expect(skip.stderr).toContain('the selection matches no experiment that has not completed in an earlier batch');
  });
  const lines = await journalLines(journal);
  expect(lines).toHaveLength(5);
  expect(lines[4]).toBe('exp1_grid[lr=0.2,seed=2]|--learning-rate=0.2 --seed 2|0.2|2');
}, 120_000);

test('--sweep sweeps one plain script; bad sweeps and too many members are exit 2 with nothing started', async () => {
  const { dir } = await tempExperimentsDir('sweep-option');
  await writeFile(path.join(dir, 'exp1_plain.py'), '"""Plain."""\n');
  await writeFile(path.join(dir, 'exp2_other.py'), '"""Other."""\n');
  const dryRun = ['submit', '--dir', dir, '--dry-run', '--json'];

  const swept = await staged([...dryRun, '--experiments', 'exp1', '--sweep', 'lr=1,2', '--sweep', 'seed=7'], dir);
  expect(swept.exitCode).toBe(0);
  expect(JSON.parse(String(swept.stdout)).experiments.map((e: { name: string }) => e.name)).toEqual([
    'exp1_plain[lr=1,seed=7]',
    'exp1_plain[lr=2,seed=7]',
  ]);
  const ambiguous = await staged([...dryRun, '--sweep', 'lr=1,2'], dir);
  expect(ambiguous.exitCode).toBe(2);
  expect(ambiguous.stderr).toContain('--sweep sweeps one script, but 2 are selected');
  const tooMany = await staged([...dryRun, '--experiments', 'exp1', '--sweep', 'a=1..101; b=1..100'], dir);
  expect(tooMany.exitCode).toBe(2);
  expect(tooMany.stderr).toContain('the sweep has 10100 members');
  const allowed = await staged(
    [...dryRun, '--experiments', 'exp1', '--sweep', 'a=1..101; b=1..100', '--max-experiments', '10100'],
    dir,
  );
  expect(allowed.exitCode).toBe(0);

  await writeFile(path.join(dir, 'exp3_bad.py'), '"""Bad.\n\nSweep: lr=1,2, seed=3\n"""\n');
  const bad = await staged(['submit', '--dir', dir, '--detach'], dir);
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr).toContain(`${path.join(dir, 'exp3_bad.py')}:3: "lr=1,2, seed=3": separate parameters with ";"`);
}, 60_000);

test('add <batchId> <swept script> adds all its members to a running batch', async () => {
  const { dir, journal } = await tempExperimentsDir('sweep-add');
  const gate = path.join(dir, '_go');
  await writeFile(
    path.join(dir, 'exp1_wait.sh'),
    `#!/bin/sh\n# Waits.\nwhile [ ! -f "${gate}" ]; do sleep 0.1; done\n`,
  );
  await chmod(path.join(dir, 'exp1_wait.sh'), 0o755);
  await writeFile(
    path.join(dir, '_exp2_swept.sh'),
    `#!/bin/sh\n# Swept.\n# Sweep: n=1..3\necho "$STAGED_EXPERIMENT $*" >> "${journal}"\n`,
  );
  await chmod(path.join(dir, '_exp2_swept.sh'), 0o755);
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);

  await worker.runUntil(async () => {
    const submitted = await staged(['submit', '--dir', dir, '--detach', '--batch-id', 'grow'], dir, taskQueue);
    expect(submitted.exitCode).toBe(0);
    await rename(path.join(dir, '_exp2_swept.sh'), path.join(dir, 'exp2_swept.sh'));
    const added = await staged(['add', 'grow', path.join(dir, 'exp2_swept.sh')], dir, taskQueue);
    expect(added.stderr).toBe('');
    expect(added.exitCode).toBe(0);
    await writeFile(gate, '');
    expect((await staged(['watch', 'grow'], dir, taskQueue)).exitCode).toBe(0);
    const summary = JSON.parse(
      await readFile(path.join(dir, 'results', 'grow', 'summary.json'), 'utf8'),
    ) as BatchSummary;
    expect(summary.experiments.map((e) => [e.name, e.status])).toEqual([
      ['exp1_wait', 'completed'],
      ['exp2_swept[n=1]', 'completed'],
      ['exp2_swept[n=2]', 'completed'],
      ['exp2_swept[n=3]', 'completed'],
    ]);
  });
  expect((await journalLines(journal)).sort()).toEqual([
    'exp2_swept[n=1] --n 1',
    'exp2_swept[n=2] --n 2',
    'exp2_swept[n=3] --n 3',
  ]);
}, 60_000);
