/** The worker's call of the keeper binary's stop of a run whose keeper died (stop-left-run.ts): the built binary. */
import path from 'node:path';
import { RunFiles } from '../../src/keeper/run-files.js';
import { stopLeftRun } from '../../src/machine/stop-left-run.js';
import { tempDir } from '../helpers/scripts.js';

test('a run whose directory is gone has no end to record: undefined, no error', async () => {
  const files = new RunFiles(path.join(await tempDir('stop-left-gone'), 'wf.run-1'));
  // Before: an error ("cannot lock the run"), which failed the holding activity instead of its lost-directory path.
  await expect(stopLeftRun(files, 'process-scan')).resolves.toBeUndefined();
});
