/**
 * `add` to a `--snapshot` batch (docs/code.md): an edited script whose members are queued is refused and its queued
 * members run the script as submitted; an add refused for another reason leaves nothing in the copy.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stagedBinary } from '../helpers/cli.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';

const server = useTestServer();
/** Long enough for three short Python runs on a loaded machine. */
const BATCH_MS = 90_000;

/** Python that writes `<experiment> <mark> <args>` to `journal`, then runs `then`. */
function experiment(docstring: string, mark: string, journal: string, then = 'pass'): string {
  return [
    `"""${docstring}"""`,
    'import os, sys, time',
    `with open(${JSON.stringify(journal)}, "a") as journal:`,
    `    journal.write(" ".join([os.environ["STAGED_EXPERIMENT"], "${mark}", *sys.argv[1:]]) + "\\n")`,
    then,
    '',
  ].join('\n');
}

test('a script edited while its members wait is refused, they run as submitted; a refused add is undone', async () => {
  const work = await tempDir('snapshot-add-work');
  const outside = await tempDir('snapshot-add-control');
  const journal = path.join(outside, 'journal');
  const release = path.join(outside, 'release');
  const experiments = path.join(work, 'experiments');
  await mkdir(experiments);
  const hold =
    `deadline = time.time() + 120\n` +
    `while not os.path.exists(${JSON.stringify(release)}) and time.time() < deadline:\n    time.sleep(0.05)`;
  await writeFile(path.join(experiments, 'exp1_hold.py'), experiment('Holds the queue.', 'old', journal, hold));
  await writeFile(path.join(experiments, 'exp2_x.py'), experiment('Swept.\n\nSweep: lr=1,2\n', 'old', journal));
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2, [work]);
  const env = { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue };
  const staged = (args: string[]) => stagedBinary(args, { cwd: work, env });
  const copy = path.join(work, 'results', 'add-1', 'code', 'experiments');

  await worker.runUntil(async () => {
    const submit = ['submit', '--batch-id', 'add-1', '--snapshot', '--max-concurrent', '1', '--detach'];
    expect((await staged(submit)).exitCode).toBe(0);
    await until(async () => (await readFile(journal, 'utf8').catch(() => '')) !== '', BATCH_MS, 'exp1 to start');

    await writeFile(path.join(experiments, 'exp2_x.py'), experiment('Swept.\n\nSweep: lr=3\n', 'new', journal));
    const edited = await staged(['add', 'add-1', 'experiments/exp2_x.py']);
    expect(edited.exitCode).toBe(2);
    expect(edited.stderr).toMatch(/exp2_x.py has changed since the batch's copy of it was taken/);
    expect(await readFile(path.join(copy, 'exp2_x.py'), 'utf8')).toContain('Sweep: lr=1,2');

    await writeFile(path.join(experiments, 'exp3_new.py'), experiment('New.', 'old', journal));
    const refused = await staged(['add', 'add-1', 'experiments/exp3_new.py', '--after', 'exp9']);
    expect(refused.exitCode).toBe(2);
    expect((await readdir(copy)).sort()).toEqual(['exp1_hold.py', 'exp2_x.py']);

    await writeFile(release, '');
    await server.env.client.workflow.getHandle('add-1').result();
  });
  const lines = (await readFile(journal, 'utf8')).split('\n').filter(Boolean).sort();
  expect(lines).toEqual(['exp1_hold old', 'exp2_x[lr=1] old --lr 1', 'exp2_x[lr=2] old --lr 2']);
});
