/** Where an experiment's checkpoints live: one directory across its runs, and across reruns of its batch. */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkpointDirOf, checkpointEnvironment } from '../../src/activities/checkpoint-dir.js';
import { checkpointBatchOf } from '../../src/batch-client/checkpoints.js';
import { batchRecordFile } from '../../src/paths.js';
import { tempDir } from '../helpers/scripts.js';

test("under the batch's results, or under the batch a rerun picks up from", () => {
  expect(checkpointDirOf({ workDir: '/w' }, 'b1', 'exp1_x')).toBe('/w/results/b1/exp1_x/checkpoint');
  expect(checkpointDirOf({ workDir: '/w', checkpointBatch: 'b0' }, 'b1', 'exp1_x')).toBe(
    '/w/results/b0/exp1_x/checkpoint',
  );
});

test('the run finds it created, in STAGED_CHECKPOINT_DIR, with the Python helpers importable', async () => {
  const workDir = await tempDir('checkpoint-env');
  const settings = { workDir, timeoutMs: null };
  const environment = await checkpointEnvironment({ PYTHONPATH: '/mine' }, settings, 'b1', 'exp1_x');
  const dir = path.join(workDir, 'results', 'b1', 'exp1_x', 'checkpoint');
  expect(environment.STAGED_CHECKPOINT_DIR).toBe(dir);
  expect((await stat(dir)).isDirectory()).toBe(true);
  expect(environment.PYTHONPATH).toMatch(/\/python:\/mine$/);
  expect(environment.STAGED_WARN_SIGNAL).toBeUndefined();
  const warned = { ...settings, timeoutMs: 20_000, signalBeforeMs: 5_000, warnSignal: 'SIGUSR2' };
  expect((await checkpointEnvironment({}, warned, 'b1', 'exp1_x')).STAGED_WARN_SIGNAL).toBe('SIGUSR2');
  await expect(checkpointEnvironment({}, { ...settings, checkpointBatch: '../x' }, 'b1', 'exp1_x')).rejects.toThrow(
    'checkpoint batch',
  );
});

test('--rerun-failed of a rerun keeps the first batch: each batch.json names where its checkpoints live', async () => {
  const workDir = await tempDir('checkpoint-chain');
  const record = async (batchId: string, checkpointBatch?: string) => {
    await mkdir(path.dirname(batchRecordFile(workDir, batchId)), { recursive: true });
    const fields = { batchId, submittedAt: 'now', experimentsDir: '/e', workDir, experiments: [] };
    await writeFile(batchRecordFile(workDir, batchId), JSON.stringify({ ...fields, checkpointBatch }));
  };
  await record('first');
  await record('second', 'first');
  expect(await checkpointBatchOf(workDir, 'first')).toBe('first');
  expect(await checkpointBatchOf(workDir, 'second')).toBe('first');
  expect(await checkpointBatchOf(workDir, 'gone')).toBe('gone'); // no batch.json: the batch itself
});
