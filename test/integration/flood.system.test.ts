/**
 * An experiment that floods its output: the worker's memory stays bounded and the log keeps its head and its tail;
 * a failure's last lines stay short when the output ends in a very long line.
 */
import { batchSummary, queryBatchState } from '../../src/batch-client/index.js';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { attemptLogFile } from '../../src/paths.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';
import { tempDir, writeScript } from '../helpers/scripts.js';
import { spawnWorker, type WorkerProcess } from '../helpers/processes.js';

const FLOOD_BYTES = 200_000_000;
const LOG_LIMIT_MIB = 8;

const server = useTestServer();
let worker: WorkerProcess | undefined;
let longLineWorker: WorkerProcess | undefined;

afterAll(() => {
  worker?.kill('SIGKILL');
  longLineWorker?.kill('SIGKILL');
});

async function memoryKiB(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]);
}

test(
  '200 MB of output: worker memory stays bounded, the log keeps its first MiBs and its last lines, the failure ' +
    'shows them',
  async () => {
    const dir = await tempDir('flood');
    const body =
      `yes "flood line 0123456789 abcdefghijklmnopqrstuvwxyz" | head -c ${FLOOD_BYTES}; echo; echo "the ` +
      `last line before failing" >&2; exit 5`;
    await writeScript(dir, 'exp1_flood', path.join(dir, '_journal'), { body });
    const { taskQueue, state } = await batchIn(dir, { maxRetries: 0 });
    worker = await spawnWorker(server.env.address, taskQueue, 1, ['--log-limit', String(LOG_LIMIT_MIB)]);
    const before = await memoryKiB(worker.pid, 'VmRSS');

    const handle = await startBatch(server.env, state);
    const summary = await batchSummary(handle);
    const peak = await memoryKiB(worker.pid, 'VmHWM');
    const { records } = await queryBatchState(handle);

    expect(summary.experiments[0]).toMatchObject({ status: 'failed', exitCode: 5 });
    expect(records[0].error).toContain('the last line before failing');
    const log = attemptLogFile(dir, state.batchId, 'exp1_flood', 1);
    const { size } = await stat(log);
    expect(size).toBeLessThan(LOG_LIMIT_MIB * 1024 * 1024 + 70 * 1024);
    const text = await readFile(log, 'utf8');
    expect(text.startsWith('start ') || text.startsWith('flood line')).toBe(true);
    expect(text).toMatch(/\[staged\] output passed the log limit of 8\.0 MiB: \d+ bytes were not kept/);
    expect(text.trimEnd().endsWith('the last line before failing')).toBe(true);
    console.log(
      `[figure] worker RSS before ${Math.round(before / 1024)} MiB, peak ${Math.round(peak / 1024)} MiB; log ` +
        `${(size / 1024 / 1024).toFixed(1)} MiB of ${FLOOD_BYTES / 1e6} MB`,
    );
    expect(peak - before).toBeLessThan(150 * 1024);
  },
  180_000,
);

test('a failure ending in a very long line shows its start and end, not the whole of it, nor nothing', async () => {
  const dir = await tempDir('long-line');
  const line = (chars: number) =>
    `printf 'Traceback: ValueError: %s END-OF-LINE' "$(head -c ${chars} /dev/zero | tr '\\0' z)"`;
  // 60 KB: inside the keeper's 64 KiB tail, the whole line was the failure; 200 KB: longer than it, nothing was
  await writeScript(dir, 'exp1_long_line', path.join(dir, '_journal'), { body: `echo start; ${line(60_000)}; exit 1` });
  await writeScript(dir, 'exp2_longer_line', path.join(dir, '_journal'), { body: `${line(200_000)}; exit 1` });
  const { taskQueue, state } = await batchIn(dir, { maxRetries: 0 });
  longLineWorker = await spawnWorker(server.env.address, taskQueue, 2);

  const handle = await startBatch(server.env, state);
  const summary = await batchSummary(handle);
  const { experiments, records } = await queryBatchState(handle);

  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(['failed', 'failed']);
  const [first, second] = ['exp1_long_line', 'exp2_longer_line'].map(
    (name) => records[experiments.findIndex((experiment) => experiment.name === name)].error!,
  );
  expect(first).toContain('start\nTraceback: ValueError: zzz');
  expect(first).toMatch(/zzz \[… \d+ characters …\] z+ END-OF-LINE$/);
  expect(second).toMatch(/\n…z+ \[… \d+ characters …\] z+ END-OF-LINE$/);
  for (const error of [first, second]) expect(error.length).toBeLessThan(1_000);
  console.log(`[figure] failure messages of ${first.length} and ${second.length} characters`);
}, 120_000);
