/** A run's output reaches its log however quickly its script exits (Node drops an exited child's unread output). */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { launchKeeper } from '../../src/activities/keeper-launch.js';
import { RunFiles, type RunExit, type RunSpec } from '../../src/keeper/run-files.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';

test.each(['cgroup or process-scan, as the machine allows', 'process-scan'])(
  '30 scripts that print one line and exit at once all have it in their log and tail (%s)',
  async (mode) => {
    const runsDir = await tempDir('keeper-output');
    const env = { PATH: process.env.PATH!, ...(mode === 'process-scan' ? { STAGED_KILL_MODE: 'process-scan' } : {}) };
    const logs = await Promise.all(
      Array.from({ length: 30 }, async (_, index) => {
        const files = RunFiles.of(runsDir, `quick.run-${index}`);
        await files.claim();
        await files.renewLease(Date.now());
        const spec: RunSpec = {
          runId: `test-quick-${index}-${Date.now()}`,
          file: '/bin/sh',
          args: ['-c', `echo "line of run ${index}"`],
          cwd: files.dir,
          logFile: path.join(files.dir, 'run.log'),
          logLimitBytes: 1024 * 1024,
          timeoutMs: null,
          killGraceMs: 1_000,
          leaseTimeoutMs: 60_000,
        };
        await launchKeeper(files, spec, env);
        let exit: RunExit | undefined;
        await until(
          async () => (exit = await files.readJson<RunExit>(files.exit)) !== undefined,
          30_000,
          'the run to end',
        );
        return { index, text: await readFile(spec.logFile, 'utf8'), tail: exit!.tail };
      }),
    );
    for (const { index, text, tail } of logs) {
      expect([index, text, tail]).toEqual([index, `line of run ${index}\n`, [`line of run ${index}`]]);
    }
  },
  90_000,
);
