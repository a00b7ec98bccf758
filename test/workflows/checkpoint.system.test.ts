/**
 * Checkpoints through the CLI, on a real server and worker: one STAGED_CHECKPOINT_DIR for every run of an
 * experiment and for `--rerun-failed`, exit 85 requeues without using a retry, and `--signal-before` warns a run
 * ahead of its `--timeout` so that it saves, requeues and resumes.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BatchSummary } from '../../src/model/types.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';
import { readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { stagedBinary } from '../helpers/cli.js';

const server = useTestServer();

const staged = (args: string[], cwd: string, taskQueue: string) =>
  stagedBinary(args, { cwd, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } });

const summaryOf = (stdout: unknown) => JSON.parse(String(stdout)) as BatchSummary;

/** Appends `<attempt> <checkpoint dir> <what it read>` to `<dir>/_seen`. */
const SEEN = 'echo "$STAGED_ATTEMPT $STAGED_CHECKPOINT_DIR $(cat "$STAGED_CHECKPOINT_DIR/state" 2>/dev/null)"';

async function seenLines(dir: string): Promise<string[]> {
  const text = await readFile(path.join(dir, '_seen'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => line.trimEnd());
}

test('a retry finds the checkpoint its failed attempt wrote, in the same STAGED_CHECKPOINT_DIR', async () => {
  const { dir, journal } = await tempExperimentsDir('checkpoint-retry');
  await writeScript(dir, 'exp1_resumes', journal, {
    body: [
      `${SEEN} >> "${dir}/_seen"`,
      'if [ "$STAGED_ATTEMPT" = 1 ]; then echo "step 40" > "$STAGED_CHECKPOINT_DIR/state"; false; fi',
    ].join('\n'),
  });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);

  const result = await worker.runUntil(
    staged(
      ['submit', '--dir', dir, '--json', '--max-retries', '1', '--retry-delay', '100ms', '--batch-id', 'b1'],
      dir,
      taskQueue,
    ),
  );

  expect(result.exitCode).toBe(0);
  const checkpointDir = path.join(dir, 'results', 'b1', 'exp1_resumes', 'checkpoint');
  expect(await seenLines(dir)).toEqual([`1 ${checkpointDir}`, `2 ${checkpointDir} step 40`]);
});

test('exit 85 twice, then 0, with --max-retries 0: it completes after 2 requeues, using no retry', async () => {
  const { dir, journal } = await tempExperimentsDir('checkpoint-requeue');
  await writeScript(dir, 'exp1_requeues', journal, {
    body: [
      'count="$STAGED_CHECKPOINT_DIR/count"',
      'n=$(( $(cat "$count" 2>/dev/null || echo 0) + 1 )); echo $n > "$count"',
      '[ $n -ge 3 ] || exit 85',
    ].join('\n'),
  });
  await writeScript(dir, 'exp2_always_requeues', journal, { body: 'exit 85' });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
  const args = ['submit', '--dir', dir, '--json', '--max-retries', '0', '--max-requeues', '2'];

  const result = await worker.runUntil(staged(args, dir, taskQueue));

  expect(result.exitCode).toBe(1);
  const [requeued, pastLimit] = summaryOf(result.stdout).experiments;
  expect(requeued).toMatchObject({ name: 'exp1_requeues', status: 'completed', attempts: 3, requeues: 2 });
  // Past --max-requeues, exit 85 is a failed attempt: with no retry left, the experiment fails.
  expect(pastLimit).toMatchObject({ name: 'exp2_always_requeues', status: 'failed', attempts: 3, requeues: 2 });
  expect(pastLimit).toMatchObject({ exitCode: 85, reason: 'exit-code' });
  const starts = (await readJournal(journal)).filter(
    (entry) => entry.name === 'exp1_requeues' && entry.event === 'start',
  );
  expect(starts.map((entry) => entry.attempt)).toEqual([1, 2, 3]);
});

/**
 * 80 steps of 0.1 s with --timeout 20s --signal-before 15s: the warning comes about 5 s in, mid-way; the run saves
 * its step and exits 85, and the next run resumes from the step saved.
 */
const BACKTEST = `#!/usr/bin/env python3
"""A resumable loop: saves its step every 10, and on the warning."""
import json, time
from staged_checkpoint import attempt, checkpoint_dir, requeue, watch_warning

state = checkpoint_dir() / "state.json"
step = json.loads(state.read_text())["step"] if state.exists() else 0
warned = watch_warning()
started = time.monotonic()
print(f"attempt {attempt()} resumes at step {step}", flush=True)
with open("_events", "a") as events:
    events.write(f"start {attempt()} {step}\\n")
while step < 80:
    if warned.is_set():
        state.write_text(json.dumps({"step": step}))
        with open("_events", "a") as events:
            events.write(f"warned {attempt()} {step} {time.monotonic() - started:.2f}\\n")
        requeue()
    time.sleep(0.1)
    step += 1
    if step % 10 == 0:
        state.write_text(json.dumps({"step": step}))
`;

test('--signal-before: warned ahead of --timeout, the run saves, exits 85, and the next run resumes', async () => {
  const { dir } = await tempExperimentsDir('checkpoint-warning');
  const script = path.join(dir, 'exp1_backtest.py');
  await writeFile(script, BACKTEST);
  await chmod(script, 0o755);
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
  const args = ['submit', '--dir', dir, '--json', '--max-retries', '0', '--timeout', '20s', '--signal-before', '15s'];

  const result = await worker.runUntil(staged(args, dir, taskQueue));

  expect(result.exitCode).toBe(0);
  expect(summaryOf(result.stdout).experiments[0]).toMatchObject({ status: 'completed', attempts: 2, requeues: 1 });
  const events = (await readFile(path.join(dir, '_events'), 'utf8')).trim().split('\n');
  expect(events).toHaveLength(3);
  const [, warnedAt, warnedStep, warnedAfter] = events[1].split(' ');
  expect(events[0]).toBe('start 1 0');
  expect(warnedAt).toBe('1');
  // 5 s of its 20-s timeout in, as the keeper counts from the process start; loosely, for a busy machine.
  expect(Number(warnedAfter)).toBeGreaterThan(4);
  expect(Number(warnedAfter)).toBeLessThan(15);
  expect(events[2]).toBe(`start 2 ${warnedStep}`);
  expect(Number(warnedStep)).toBeGreaterThan(0);
});

test('--rerun-failed keeps the checkpoints of the first batch, also for a rerun of a rerun', async () => {
  const { dir, journal } = await tempExperimentsDir('checkpoint-rerun');
  await writeScript(dir, 'exp1_fails_twice', journal, {
    body: [
      `${SEEN} >> "${dir}/_seen"`,
      'echo "x$(cat "$STAGED_CHECKPOINT_DIR/state" 2>/dev/null)" > "$STAGED_CHECKPOINT_DIR/state"',
      'grep -q xxx "$STAGED_CHECKPOINT_DIR/state"',
    ].join('\n'),
  });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
  const base = ['submit', '--dir', dir, '--json', '--max-retries', '0'];

  await worker.runUntil(async () => {
    expect((await staged([...base, '--batch-id', 'first'], dir, taskQueue)).exitCode).toBe(1);
    const second = await staged([...base, '--batch-id', 'second', '--rerun-failed', 'first'], dir, taskQueue);
    expect(second.exitCode).toBe(1);
    const third = await staged([...base, '--batch-id', 'third', '--rerun-failed', 'second'], dir, taskQueue);
    expect(third.exitCode).toBe(0);
  });

  const checkpointDir = path.join(dir, 'results', 'first', 'exp1_fails_twice', 'checkpoint');
  expect(await seenLines(dir)).toEqual([`1 ${checkpointDir}`, `1 ${checkpointDir} x`, `1 ${checkpointDir} xx`]);
});

test('with --snapshot, staged_checkpoint is importable: the copy first on PYTHONPATH, then python/', async () => {
  const { dir } = await tempExperimentsDir('checkpoint-snapshot');
  await mkdir(path.join(dir, 'experiments'));
  const script = path.join(dir, 'experiments', 'exp1_imports.py');
  const probe = 'import sys, staged_checkpoint; print(staged_checkpoint.checkpoint_dir(), sys.path[1], flush=True)';
  await writeFile(script, `"""Imports staged's helper from a snapshot."""\n${probe}\n`);
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
  const args = ['submit', '--dir', 'experiments', '--json', '--max-retries', '0', '--snapshot', '--batch-id', 's1'];

  const result = await worker.runUntil(staged(args, dir, taskQueue));

  expect(result.exitCode).toBe(0);
  const log = await readFile(path.join(dir, '.staged', 'logs', 's1', 'exp1_imports', 'attempt-1.log'), 'utf8');
  expect(log.trim()).toBe(
    `${path.join(dir, 'results', 's1', 'exp1_imports', 'checkpoint')} ${path.join(dir, 'results', 's1', 'code')}`,
  );
});
