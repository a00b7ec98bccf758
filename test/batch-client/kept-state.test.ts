/** Which pollers of a task queue `status` may take for gone: workers of this machine whose process has exited. */
import { exitedHere, liveHere } from '../../src/batch-client/kept-state.js';

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
