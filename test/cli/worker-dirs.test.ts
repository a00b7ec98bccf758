/** A worker's served directories are checked before it connects: a typo is exit 2, not a batch that waits for ever. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { execa } from 'execa';
import { tempDir } from '../helpers/scripts.js';

const WORKER = fileURLToPath(new URL('../../src/worker.js', import.meta.url));

test('--allow-dir naming a directory that does not exist is exit 2, naming it', async () => {
  const missing = path.join(await tempDir('worker-dirs'), 'no-such-project');
  const result = await execa(process.execPath, [WORKER, '--allow-dir', missing], {
    reject: false,
    env: { TEMPORAL_ADDRESS: '127.0.0.1:1' }, // nothing answers there: the check must come first
    timeout: 60_000,
  });
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain(`--allow-dir ${missing} is not a directory`);
});
