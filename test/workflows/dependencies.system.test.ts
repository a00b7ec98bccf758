/** `After:` and `After-any:` lines in a running batch, measured from the scripts' own journal on a real server. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { batchSummary, queryBatchState } from '../../src/batch-client/index.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { CLI, until } from '../helpers/processes.js';

const server = useTestServer();

test(
  'an experiment starts after those it waits for; one whose dependency failed is skipped naming it; After-any ' +
    'starts after any end; dependencies never hold back unrelated experiments',
  async () => {
    const { dir, journal } = await tempExperimentsDir('after');
    // exp1 ends only once the unrelated exp6 has started (at most 60 s): on a loaded machine 2 s were not enough for
    // the refills before it, and exp6 started with exp2.
    const freeStarted = path.join(dir, '_free_started');
    await writeScript(dir, 'exp1_prep', journal, {
      body: `for i in $(seq 600); do [ -e "${freeStarted}" ] && break; sleep 0.1; done`,
    });
    await writeScript(dir, 'exp2_train', journal, { title: 'Production training.\n#\n# After: exp1' });
    await writeScript(dir, 'exp3_broken', journal, { body: 'false' }); // its end line is still written
    await writeScript(dir, 'exp4_eval', journal, { title: 'Risk management eval.\n#\n# After: exp3, exp2' });
    await writeScript(dir, 'exp5_report', journal, { title: 'Report.\n#\n# Priority: low\n# After-any: exp3' });
    await writeScript(dir, 'exp6_free', journal, {
      title: 'Unrelated.\n#\n# Priority: low',
      body: `touch "${freeStarted}"`,
    });
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 2, maxRetries: 0 });
    const worker = await startWorker(server.env, taskQueue, 4);

    const summary = await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));

    const statuses = Object.fromEntries(summary.experiments.map((e) => [e.name, e.status]));
    expect(statuses).toEqual({
      exp1_prep: 'completed',
      exp2_train: 'completed',
      exp3_broken: 'failed',
      exp4_eval: 'skipped',
      exp5_report: 'completed',
      exp6_free: 'completed',
    });
    expect(summary.experiments.find((e) => e.name === 'exp4_eval')).toMatchObject({
      attempts: 0,
      error: 'not started: exp3_broken failed',
    });
    const entries = await readJournal(journal);
    const at = (name: string, event: 'start' | 'end') =>
      entries.find((entry) => entry.name === name && entry.event === event)?.atMs ?? NaN;
    expect(at('exp2_train', 'start')).toBeGreaterThanOrEqual(at('exp1_prep', 'end'));
    expect(at('exp5_report', 'start')).toBeGreaterThanOrEqual(at('exp3_broken', 'end'));
    // Low priority, but ready: it starts while the critical exp2 still waits for exp1.
    expect(at('exp6_free', 'start')).toBeLessThan(at('exp2_train', 'start'));
    expect(entries.some((entry) => entry.name === 'exp4_eval')).toBe(false);
  },
  120_000,
);

test('submit refuses an After: line naming no experiment of the batch, or a circle: file:line, exit 2', async () => {
  const { dir, journal } = await tempExperimentsDir('after-bad');
  await writeScript(dir, 'exp1_a', journal, { title: 'A.\n#\n# After: exp2' });
  await writeScript(dir, 'exp2_b', journal, { title: 'B.\n#\n# After: exp1_a' });
  const submit = (args: string[]) =>
    execa(process.execPath, [CLI, 'submit', '--dir', dir, ...args], {
      cwd: dir,
      env: { TEMPORAL_ADDRESS: server.env.address },
      reject: false,
    });
  const circle = await submit(['--dry-run']);
  expect([circle.exitCode, circle.stderr]).toEqual([
    2,
    expect.stringMatching(/exp1_a\.sh:4: exp1_a -> exp2_b -> exp1_a: these wait for each other in a circle/),
  ]);
  await writeScript(dir, 'exp2_b', journal, { title: 'B.\n#\n# After: exp7' });
  const unknown = await submit(['--batch-id', 'after-bad-1']);
  expect([unknown.exitCode, unknown.stderr]).toEqual([
    2,
    expect.stringMatching(new RegExp(`${path.join(dir, 'exp2_b.sh')}:4: After: exp7 is not in this batch`)),
  ]);
  await expect(server.env.client.workflow.getHandle('after-bad-1').describe()).rejects.toThrow();
});

test('add --after: the added start once those named completed; a wrong name is exit 2, nothing added', async () => {
  const { dir, journal } = await tempExperimentsDir('add-after');
  const gate = path.join(dir, 'gate');
  await writeScript(dir, 'exp1_seed', journal, { body: `while [ ! -e "${gate}" ]; do sleep 0.1; done` });
  await writeScript(dir, 'exp2_other', journal);
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 2, maxRetries: 0 });
  const worker = await startWorker(server.env, taskQueue, 4);
  const add = (args: string[]) =>
    execa(process.execPath, [CLI, 'add', state.batchId, ...args], {
      env: { TEMPORAL_ADDRESS: server.env.address },
      reject: false,
    });

  const summary = await worker.runUntil(async () => {
    const handle = await startBatch(server.env, state);
    await until(async () => (await readJournal(journal)).some((e) => e.name === 'exp1_seed'), 60_000, 'exp1 started');
    await writeScript(dir, 'exp9_eval', journal, { title: 'Evaluation.\n#\n# Priority: critical' });
    const script = path.join(dir, 'exp9_eval.sh');
    const before = JSON.stringify((await queryBatchState(handle)).experiments);
    const unknown = await add([script, '--after', 'exp1,exp77']);
    expect([unknown.exitCode, unknown.stderr]).toEqual([
      2,
      expect.stringMatching(/--after exp77 is not in this batch/),
    ]);
    const itself = await add([script, '--after', 'exp9']);
    expect([itself.exitCode, itself.stderr]).toEqual([2, expect.stringMatching(/exp9_eval waits for itself/)]);
    expect(JSON.stringify((await queryBatchState(handle)).experiments)).toBe(before);

    const added = await add([script, '--after', 'exp1']);
    expect([added.exitCode, added.stderr]).toEqual([0, '']);
    const { experiments } = await queryBatchState(handle);
    expect(experiments.find((e) => e.name === 'exp9_eval')?.after).toEqual(['exp1_seed']);
    await writeFile(gate, '');
    return batchSummary(handle);
  });

  expect(summary.experiments.map((e) => [e.name, e.status])).toEqual([
    ['exp1_seed', 'completed'],
    ['exp2_other', 'completed'],
    ['exp9_eval', 'completed'],
  ]);
  const entries = await readJournal(journal);
  const at = (name: string, event: 'start' | 'end') =>
    entries.find((entry) => entry.name === name && entry.event === event)?.atMs ?? NaN;
  expect(at('exp9_eval', 'start')).toBeGreaterThanOrEqual(at('exp1_seed', 'end'));
}, 120_000);
