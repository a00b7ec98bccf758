import { inForeground } from '../../src/cli/foreground.js';

test('the program in the foreground gives its exit code: 2 (bad input) stays 2', async () => {
  await expect(inForeground('sh', ['-c', 'exit 2'], process.cwd())).resolves.toBe(2);
  await expect(inForeground('sh', ['-c', 'exit 0'], process.cwd())).resolves.toBe(0);
});

test('a program killed by a signal nobody passed on (the OOM killer) is a failure: 128 + its number', async () => {
  await expect(inForeground('sh', ['-c', 'kill -KILL $$'], process.cwd())).resolves.toBe(137);
});
