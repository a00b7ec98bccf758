/**
 * The process-scan way of finding and stopping a run's processes (where no cgroup can be made):
 * real process trees, in new sessions and double-forked, all carrying the run's marker.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { RUN_MARKER, runTreeFor } from '../../src/keeper/run-tree.js';
import { GONE_WITHIN_MS, LOAD_MARGIN_MS, pidAlive, until, waitUntilDead } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

/** A main process with a child in a new session and a double-forked one; their pids, main first. */
async function startTree(runId: string, setup = ''): Promise<number[]> {
  const dir = await tempDir('run-tree');
  const script = [
    setup,
    `setsid sh -c 'echo $$ > "$D/setsid"; exec sleep 300' &`,
    `sh -c '(sh -c "echo \\$\\$ > \\"\\$D/double\\"; exec sleep 300" &)'`,
    'echo $$ > "$D/main"',
    'exec sleep 300',
  ].join('\n');
  const main = spawn('/bin/sh', ['-c', script], {
    env: { PATH: process.env.PATH, D: dir, [RUN_MARKER]: runId },
    detached: true,
    stdio: 'ignore',
  });
  main.unref();
  started.push(main.pid!);
  const pidIn = async (name: string) => Number((await readFile(path.join(dir, name), 'utf8').catch(() => '')).trim());
  await until(
    async () => (await pidIn('setsid')) > 0 && (await pidIn('double')) > 0 && (await pidIn('main')) > 0,
    20_000,
    'the tree to start',
  );
  const pids = [await pidIn('main'), await pidIn('setsid'), await pidIn('double')];
  started.push(...pids);
  return pids;
}

test('runs its command as given: nothing wraps it', async () => {
  const tree = await runTreeFor(`scan-wrap-${process.pid}`, 'process-scan');
  expect(tree.mode).toBe('process-scan');
  expect(tree.wrap('/bin/sh', ['-c', 'exit 0'])).toEqual({ file: '/bin/sh', args: ['-c', 'exit 0'] });
});

test("finds every process carrying the run's marker, wherever it went, and no other run's", async () => {
  const runId = `scan-members-${process.pid}-${Date.now()}`;
  const mine = await startTree(runId);
  const other = await startTree(`${runId}0`);
  const tree = await runTreeFor(runId, 'process-scan');

  const members = await tree.members();

  expect([...members].sort()).toEqual([...mine].sort());
  expect(members.some((pid) => other.includes(pid))).toBe(false);
});

test('stops the whole tree, daemons included, and leaves other runs alone', async () => {
  const runId = `scan-stop-${process.pid}-${Date.now()}`;
  const mine = await startTree(runId);
  const other = await startTree(`${runId}0`);
  const tree = await runTreeFor(runId, 'process-scan');

  await tree.stop(5_000);

  expect(await tree.members()).toEqual([]);
  expect(await waitUntilDead(mine, GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
  expect(other.every(pidAlive)).toBe(true);
});

test('processes that ignore SIGTERM are SIGKILLed once the grace period is over', async () => {
  const runId = `scan-kill-${process.pid}-${Date.now()}`;
  const mine = await startTree(runId, 'trap "" TERM');
  const tree = await runTreeFor(runId, 'process-scan');
  const graceMs = 1_000;
  const stoppingAt = Date.now();

  await tree.stop(graceMs);

  expect(Date.now() - stoppingAt).toBeGreaterThanOrEqual(graceMs);
  expect(await tree.members()).toEqual([]);
  expect(await waitUntilDead(mine, GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
});
