/** The worker's wait on a run directory ends when the keeper records a start or an end, not at the next poll. */
import { RunFiles } from '../../src/keeper/run-files.js';
import { watchRunDir } from '../../src/machine/run-dir-watch.js';
import { tempDir } from '../helpers/scripts.js';

const never = new AbortController().signal;

test('a wait ends when exit.json is renamed into place, and lasts its length otherwise', async () => {
  const files = new RunFiles(await tempDir('run-dir-watch'));
  const watch = watchRunDir(files.dir);
  try {
    let started = Date.now();
    await watch.wait(300, never);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);

    started = Date.now();
    const waiting = watch.wait(20_000, never);
    setTimeout(() => void files.writeJson(files.exit, { end: 'exited' }), 100);
    await waiting;
    expect(Date.now() - started).toBeLessThan(10_000);

    // Recorded between two waits: the next wait returns at once.
    await files.writeJson(files.state, { startedAt: Date.now() });
    await new Promise((resolve) => setTimeout(resolve, 200));
    started = Date.now();
    await watch.wait(20_000, never);
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    watch.close();
  }
});

test('a wait ends when the activity is cancelled', async () => {
  const files = new RunFiles(await tempDir('run-dir-watch-cancel'));
  const watch = watchRunDir(files.dir);
  const cancel = new AbortController();
  try {
    const started = Date.now();
    setTimeout(() => cancel.abort(), 100);
    await watch.wait(20_000, cancel.signal);
    expect(Date.now() - started).toBeLessThan(10_000);
  } finally {
    watch.close();
  }
});
