/** A run's output reaches its log however quickly its script exits (Node drops an exited child's unread output). */
import { readFile } from 'node:fs/promises';
import { exitOf, launchRun } from '../helpers/runs.js';
import { tempDir } from '../helpers/scripts.js';

test.each(['cgroup or process-scan, as the machine allows', 'process-scan'])(
  '30 scripts that print one line and exit at once all have it in their log and tail (%s)',
  async (mode) => {
    const runsDir = await tempDir('keeper-output');
    const env: Record<string, string> = mode === 'process-scan' ? { STAGED_KILL_MODE: 'process-scan' } : {};
    const logs = await Promise.all(
      Array.from({ length: 30 }, async (_, index) => {
        const { files, spec } = await launchRun(runsDir, `quick.run-${index}`, ['-c', `echo "line of run ${index}"`], {
          env,
        });
        const exit = await exitOf(files, 30_000);
        return { index, text: await readFile(spec.logFile, 'utf8'), tail: exit.tail };
      }),
    );
    for (const { index, text, tail } of logs) {
      expect([index, text, tail]).toEqual([index, `line of run ${index}\n`, [`line of run ${index}`]]);
    }
  },
  90_000,
);
