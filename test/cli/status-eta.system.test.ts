/**
 * `status` of a batch whose last run has outlasted the finished ones and reports no progress: no ETA (its end is
 * unknown), never "ETA: 0.0s" while it runs. Real server, worker and scripts.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stagedBinary as staged } from '../helpers/cli.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { batchStateFor, startBatch, testSettings, useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';

const server = useTestServer();
const BATCH = 'status-eta';

test('a run past the typical duration with no progress leaves the ETA unknown, not 0', async () => {
  const dir = await tempDir('status-eta');
  const gate = path.join(dir, '_gate');
  await writeFile(path.join(dir, 'exp1_quick.sh'), '#!/bin/sh\necho done\n', { mode: 0o755 });
  await writeFile(path.join(dir, 'exp2_slow.sh'), `#!/bin/sh\nwhile [ ! -f "${gate}" ]; do sleep 0.2; done\n`, {
    mode: 0o755,
  });
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2);
  const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxConcurrent: 2, maxRetries: 0 });
  const state = await batchStateFor(settings, BATCH);
  const cli = { cwd: dir, env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue } };

  await worker.runUntil(async () => {
    const handle = await startBatch(server.env, state);
    let statusLine = '';
    // exp1 completed (in well under 3 s) and exp2 running for longer than 3 s: past the typical duration
    await until(
      async () => {
        const { stdout } = await staged(['status', BATCH], cli);
        statusLine = stdout.split('\n').find((line) => line.startsWith('[STATUS]')) ?? '';
        const elapsed = /exp2_slow \((\d+(?:\.\d+)?)s, attempt 1/.exec(stdout)?.[1];
        return statusLine.includes('Completed: 1') && Number(elapsed) >= 3;
      },
      60_000,
      'exp1 completed and exp2 running for 3 s',
    );
    expect(statusLine).toBe('[STATUS] Queue: 0 | Running: 1 | Completed: 1 | Failed: 0');
    await writeFile(gate, '');
    await handle.result();
  });
}, 120_000);
