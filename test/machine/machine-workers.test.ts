/** The records of a machine's live workers, on a real directory with real processes standing in for workers. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { otherLiveWorkers, recordWorker } from '../../src/machine/machine-workers.js';
import { processIdentityOf } from '../../src/keeper/process-identity.js';
import { deadPid } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';

async function writeRecordOf(root: string, pid: number, startTicks: number, runsDir: string, slots: number) {
  const worker = { ...processIdentityOf(process.pid)!, pid, startTicks };
  await writeFile(path.join(root, '@workers', `${pid}-${startTicks}.json`), JSON.stringify({ worker, runsDir, slots }));
}

test('a live worker counting the same runs is found, not one of other runs; a dead one goes', async () => {
  const root = await tempDir('machine-workers');
  const own = await recordWorker(root, `${root}/server-a/q`, 3);
  expect(await otherLiveWorkers(root, `${root}/server-a/q`)).toEqual([]); // its own record is not another worker
  const other = spawn('sleep', ['30']);
  try {
    const { startTicks } = processIdentityOf(other.pid!)!;
    await writeRecordOf(root, other.pid!, startTicks, `${root}/server-a/q`, 2);
    const gone = await deadPid();
    await writeRecordOf(root, gone, 1, `${root}/server-a/q`, 5);
    await writeRecordOf(root, other.pid!, startTicks + 1, `${root}/server-a/q`, 4); // its pid, not its start: not it
    expect(await otherLiveWorkers(root, `${root}/server-a/q`)).toEqual([{ pid: other.pid!, slots: 2 }]);
    expect(await otherLiveWorkers(root, `${root}/server-b/q`)).toEqual([]);
    const left = await readdir(path.join(root, '@workers'));
    expect(left).not.toContain(`${gone}-1.json`);
    expect(left).not.toContain(`${other.pid}-${startTicks + 1}.json`);
    own.stop();
    expect(await readdir(path.join(root, '@workers'))).toEqual([`${other.pid}-${startTicks}.json`]);
  } finally {
    other.kill('SIGKILL');
    await once(other, 'exit').catch(() => undefined);
  }
});

test('a record not whole (being written as a worker starts) is passed over; none is written in halves', async () => {
  const root = await tempDir('machine-workers-partial');
  const own = await recordWorker(root, `${root}/server-a/q`, 3);
  try {
    await writeFile(path.join(root, '@workers', '1-1.json'), '{"worker": {"pid"'); // before: a SyntaxError
    expect(await otherLiveWorkers(root, `${root}/server-a/q`)).toEqual([]);
    expect((await readdir(path.join(root, '@workers'))).filter((name) => name.endsWith('.partial'))).toEqual([]);
  } finally {
    own.stop();
  }
});

test('a record says the directories its worker serves', async () => {
  const root = await tempDir('machine-workers-serves');
  const own = await recordWorker(root, `${root}/server-a/q`, 3, ['/home/ann/a']);
  try {
    const [name] = await readdir(path.join(root, '@workers'));
    const record = JSON.parse(await readFile(path.join(root, '@workers', name), 'utf8')) as { serves: string[] };
    expect(record.serves).toEqual(['/home/ann/a']);
  } finally {
    own.stop();
  }
});
