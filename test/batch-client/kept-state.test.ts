/** Which pollers of a task queue `status` may take for gone: workers of this machine whose process has exited. */
import { execa } from 'execa';
import { exitedHere, liveHere, processAlive } from '../../src/batch-client/kept-state.js';

const alive = (pids: number[]) => (pid: number) => pids.includes(pid);

test("a poller is taken for exited only when it names this machine's id and its process is gone", () => {
  const identity = '4242@box serves=/home/ann/research resources=gpu=2';
  expect(exitedHere(identity, 'box', alive([]))).toBe(true);
  expect(exitedHere(identity, 'box', alive([4242]))).toBe(false); // still running
  expect(exitedHere(identity, 'other-box', alive([]))).toBe(false); // another machine's process: cannot be told
  expect(exitedHere('4242@box-2 serves=/a', 'box', alive([]))).toBe(false); // not a prefix match
  expect(exitedHere('4242@box', 'box', alive([]))).toBe(true); // an identity without its served roots
  expect(exitedHere('some-sdk-worker', 'box', alive([]))).toBe(false); // not a staged identity
});

test("a poller is taken for a busy worker (the whole answer time) only when it is this machine's and runs", () => {
  const identity = '4242@box serves=/home/ann/research';
  expect(liveHere(identity, 'box', alive([4242]))).toBe(true);
  expect(liveHere(identity, 'box', alive([]))).toBe(false); // exited
  expect(liveHere(identity, 'other-box', alive([4242]))).toBe(false); // a pid of another machine says nothing here
  expect(liveHere('some-sdk-worker', 'box', alive([4242]))).toBe(false);
});

test('a zombie is not alive: its process has exited, only its parent has not collected it', async () => {
  // `sleep 0.1` ends first; its parent has become `sleep 30` (exec) and never collects it.
  const parent = execa('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], { reject: false });
  try {
    const zombie = await new Promise<number>((resolve) =>
      parent.stdout.once('data', (chunk) => resolve(Number(chunk))),
    );
    expect(processAlive(parent.pid!)).toBe(true);
    const deadline = Date.now() + 10_000;
    while (processAlive(zombie) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(processAlive(zombie)).toBe(false);
    expect(() => process.kill(zombie, 0)).not.toThrow(); // the pid is still there: kill(0) alone would say alive
  } finally {
    parent.kill('SIGKILL');
  }
});
