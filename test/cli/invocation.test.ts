/** The hints staged prints run the next command the way the user ran this one: pure logic. */
import { commandHint, userDirectory, workerHint, type Invocation } from '../../src/cli/invocation.js';

const stagedRoot = '/home/ann/staged';
const npmScript = (initCwd: string): Invocation => ({
  cwd: stagedRoot,
  script: `${stagedRoot}/dist/src/client.js`,
  env: {
    npm_lifecycle_event: 'submit',
    npm_package_json: `${stagedRoot}/package.json`,
    npm_package_name: 'staged',
    INIT_CWD: initCwd,
  },
});

test('npm run from staged itself, or a folder inside it, hints npm run', () => {
  expect(commandHint('watch', ['b1'], npmScript(stagedRoot))).toBe('npm run watch -- b1');
  expect(commandHint('watch', ['b1'], npmScript(`${stagedRoot}/experiments`))).toBe('npm run watch -- b1');
});

test("npm --prefix from the user's own repository hints npm --prefix, which works from there", () => {
  const invocation = npmScript('/home/ann/research');
  expect(userDirectory(invocation)).toBe('/home/ann/research');
  expect(commandHint('watch', ['b1'], invocation)).toBe(`npm --prefix ${stagedRoot} run watch -- b1`);
  expect(commandHint('worker', [], invocation)).toBe(`npm --prefix ${stagedRoot} run worker`);
});

test('the hint to start a worker names the task queue only when a plain worker would poll another', () => {
  const binary = (env: NodeJS.ProcessEnv): Invocation => ({
    cwd: '/home/ann/research',
    script: '/usr/bin/staged',
    env,
  });
  expect(workerHint('gpu', binary({}))).toBe('staged worker --task-queue gpu');
  expect(workerHint('staged', binary({}))).toBe('staged worker');
  expect(workerHint('gpu', binary({ STAGED_TASK_QUEUE: 'gpu' }))).toBe('staged worker');
  expect(workerHint('staged', binary({ STAGED_TASK_QUEUE: 'gpu' }))).toBe('staged worker --task-queue staged');
});

test('an argument or a path a shell would read otherwise is quoted; a <placeholder> is not', () => {
  const binary: Invocation = { cwd: '/home/ann/research', script: '/usr/bin/staged', env: {} };
  // Before: `staged resume b1 exp7_sweep[lr=1e-4,seed=2]`, a glob to the shell.
  expect(commandHint('resume', ['b1', 'exp7_sweep[lr=1e-4,seed=2]'], binary)).toBe(
    "staged resume b1 'exp7_sweep[lr=1e-4,seed=2]'",
  );
  expect(commandHint('status', ['<batchId>', '--members'], binary)).toBe('staged status <batchId> --members');
  expect(commandHint('resume', ["it's"], binary)).toBe("staged resume 'it'\\''s'");
  const elsewhere: Invocation = { cwd: '/home/ann', script: '/opt/My Tools/staged/dist/src/client.js', env: {} };
  expect(commandHint('watch', ['b1'], elsewhere)).toBe("node '/opt/My Tools/staged/dist/src/client.js' watch b1");
});
