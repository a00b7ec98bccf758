/** Stopping a background service with its whole process group: real process groups of real processes. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { groupAlive, killGroup, signalGroup } from '../../src/server/process-group.js';
import { pidAlive, until, waitUntilDead } from '../helpers/processes.js';

interface Group {
  /** The leader's pid, which is the group's id. */
  id: number;
  /** Every process of the group: the leader and the children it started. */
  pids: number[];
}

/** A shell leading its own group, with two children; `setup` runs first (a trap, say), inherited by the children. */
async function spawnGroup(started: Group[], setup = ''): Promise<Group> {
  const leader = spawn('/bin/sh', ['-c', `${setup}\nsleep 300 & a=$!\nsleep 300 & b=$!\necho "$$ $a $b"\nwait`], {
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: leader.stdout }).once('line', resolve);
    leader.once('exit', () => reject(new Error('the group leader exited before it started its children')));
  });
  const group = { id: leader.pid!, pids: line.split(' ').map(Number) };
  started.push(group);
  return group;
}

/**
 * A test whose groups are SIGKILLed when it ends. The tests run at once: each waits on its own groups, and where
 * orphans are reaped late (a container's init) a group of zombies outlives its last process by seconds.
 */
function groupTest(name: string, body: (start: (setup?: string) => Promise<Group>) => Promise<void>): void {
  test.concurrent(name, async () => {
    const started: Group[] = [];
    try {
      await body((setup) => spawnGroup(started, setup));
    } finally {
      for (const group of started) signalGroup(group.id, 'SIGKILL');
    }
  });
}

groupTest(
  'a group with live processes is alive and can be signalled; one with none left is not',
  async (startGroup) => {
    const group = await startGroup();
    expect(groupAlive(group.id)).toBe(true);
    expect(signalGroup(group.id, 0)).toBe(true);

    process.kill(-group.id, 'SIGKILL');
    expect(await waitUntilDead(group.pids, 10_000)).toBeDefined();
    await until(() => !groupAlive(group.id), 10_000, 'the group to be gone');
    expect(signalGroup(group.id, 'SIGTERM')).toBe(false);
  },
);

groupTest('stops every process of the group, children included, with SIGTERM when they obey it', async (startGroup) => {
  const group = await startGroup();
  expect(group.pids).toHaveLength(3);
  expect(group.pids.every(pidAlive)).toBe(true);

  expect(await killGroup(group.id, 10_000)).toBe('terminated');

  expect(group.pids.some(pidAlive)).toBe(false);
  expect(groupAlive(group.id)).toBe(false);
});

groupTest(
  'processes that ignore SIGTERM are SIGKILLed once the grace period is over, and all are gone after',
  async (startGroup) => {
    const group = await startGroup('trap "" TERM');
    const graceMs = 1_000;
    const stoppingAt = Date.now();

    expect(await killGroup(group.id, graceMs)).toBe('killed');

    expect(Date.now() - stoppingAt).toBeGreaterThanOrEqual(graceMs);
    expect(group.pids.some(pidAlive)).toBe(false);
    expect(groupAlive(group.id)).toBe(false);
  },
);

groupTest('a group that is already gone is reported so, without waiting', async (startGroup) => {
  const group = await startGroup();
  process.kill(-group.id, 'SIGKILL');
  await until(() => !groupAlive(group.id), 10_000, 'the group to be gone');

  expect(await killGroup(group.id, 60_000)).toBe('already-gone');
});

groupTest('stops only its own group: a process in another group lives on', async (startGroup) => {
  const mine = await startGroup();
  const other = await startGroup();

  await killGroup(mine.id, 10_000);

  expect(other.pids.every(pidAlive)).toBe(true);
  expect(groupAlive(other.id)).toBe(true);
});
