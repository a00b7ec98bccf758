/**
 * Two workers of one queue on one machine, one runs directory: the second (`--slots 2`) takes nothing while the
 * first one's runs fill the machine, since each counts every run alive there (docs/resources.md, "Limits"). It says
 * so as it starts, naming the first one's pid, the first one says so in its log once it notices, and `status` and
 * `watch` say so instead of leaving an idle-looking worker. The second names the runs directory through a link.
 * Real server, real worker processes and scripts; asserted on the printed lines and `status` output.
 */
import { symlink } from 'node:fs/promises';
import path from 'node:path';
import type { LiveBatchView } from '../../src/cli/display/batch-view.js';
import { execa } from 'execa';
import { CLI, stagedBinary as staged } from '../helpers/cli.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript, type JournalEntry } from '../helpers/scripts.js';
import { until, workerProcessesPerTest } from '../helpers/processes.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

const starts = (entries: JournalEntry[]) => entries.filter((e) => e.event === 'start');

test('a second worker of the machine says the first counts its runs too; status shows both, slots', async () => {
  const { dir, journal } = await tempExperimentsDir('shared-machine');
  for (const name of ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d'])
    await writeScript(dir, name, journal, { body: 'sleep 30' });
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 4, maxRetries: 0 });
  const args = ['--runs-dir', await tempDir('runs-shared-machine'), '--machine-id', 'm3'];
  const first = await startWorkerProcess(server.env.address, taskQueue, 2, args);
  await startBatch(server.env, state);
  await until(async () => starts(await readJournal(journal)).length === 2, 30_000, 'two scripts to start');
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };
  const alone = await staged(['status', state.batchId], cli);
  expect(alone.exitCode).toBe(0);
  expect(alone.stdout).not.toMatch(/\[WORKERS\]/); // one worker: nothing to say
  expect(first.output.some((line) => line.includes('[WARN] another live worker'))).toBe(false);

  // The same runs directory by another path: the second worker names it through a symbolic link.
  const linked = path.join(await tempDir('runs-shared-machine-link'), 'runs');
  await symlink(args[1], linked);
  const second = await startWorkerProcess(server.env.address, taskQueue, 2, ['--runs-dir', linked, ...args.slice(2)]);
  const warned = new RegExp(
    String.raw`^staged worker: \[WARN\] another live worker of this machine \(pid ${first.pid}, --slots 2\) counts ` +
      String.raw`the runs of its runs directory \S+: every run alive there counts against this worker's --slots 2 ` +
      String.raw`too, so it adds no capacity \(the machine runs at most 2 at once, as without this worker\); ` +
      String.raw`run one worker per machine`,
  );
  await until(() => second.output.some((line) => warned.test(line)), 10_000, "the second worker's warning");

  const [low, high] = [first.pid, second.pid].sort((a, b) => a - b);
  const shared =
    `[WORKERS] 2 live workers of machine m3 count the same runs (pid ${low} --slots 2, pid ${high} ` +
    '--slots 2): each counts every run alive there against its own --slots, so together they run at most 2 at once';
  let text = '';
  await until(
    async () => (text = (await staged(['status', state.batchId], cli)).stdout).includes(shared),
    30_000,
    `status to say: ${shared}`,
  );
  const json = JSON.parse((await staged(['status', state.batchId, '--json'], cli)).stdout) as LiveBatchView;
  expect(json.sharedMachines).toEqual([
    {
      machineId: 'm3',
      workers: [
        { pid: low, slots: 2 },
        { pid: high, slots: 2 },
      ],
      atOnce: 2,
    },
  ]);
  // `watch` shows it in its status block too; it follows until stopped (the batch runs on).
  const watch = execa(process.execPath, [CLI, 'watch', state.batchId, '--status-interval', '1s'], {
    ...cli,
    reject: false,
  });
  let watched = '';
  watch.stdout?.on('data', (chunk: Buffer) => (watched += chunk.toString()));
  try {
    await until(() => watched.includes(shared), 30_000, `watch to say: ${shared}`);
  } finally {
    watch.kill('SIGINT');
    await watch;
  }
  // The counting rule is unchanged: the second worker started nothing beside the first one's two runs.
  expect(starts(await readJournal(journal))).toHaveLength(2);
  expect(text).toMatch(/Running: 2/);

  // The first worker's log says so too once it notices the second (it looks every 10 s), and again once it stops.
  const secondNamed = `[WARN] another live worker of this machine (pid ${second.pid}, --slots 2) counts the runs`;
  await until(() => first.output.some((line) => line.includes(secondNamed)), 25_000, "the first worker's warning");
  second.kill('SIGTERM');
  expect(await second.exited()).toBe(0);
  await until(
    () => first.output.some((line) => /no other live worker of this machine counts the runs of \S+ now/.test(line)),
    25_000,
    'the first worker to say it is alone again',
  );
}, 120_000);
