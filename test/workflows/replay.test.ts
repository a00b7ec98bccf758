/**
 * Batches keep running across an upgrade of staged: histories recorded from real batches replay
 * against today's workflow code, so a change that would break workflows already running fails here.
 * `STAGED_RECORD_HISTORIES=1` records them again (do that only for a deliberate, versioned change).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { encodeHistory } from '../helpers/replay-histories.js';
import { batchSummary } from '../../src/batch-client/index.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { tempExperimentsDir, writeScript } from '../helpers/scripts.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/histories/', import.meta.url));
const REPLAYER = fileURLToPath(new URL('../helpers/replay-histories.js', import.meta.url));
const recording = process.env.STAGED_RECORD_HISTORIES === '1';
const server = useTestServer();

async function recordHistories(): Promise<void> {
  const { dir, journal } = await tempExperimentsDir('replay');
  await writeScript(dir, 'exp1_fine', journal, { title: 'Production check.' });
  await writeScript(dir, 'exp2_flaky', journal, { body: '[ "$STAGED_ATTEMPT" -ge 2 ]' });
  await writeScript(dir, 'exp3_broken', journal, { body: 'echo "no data for AAPL" >&2; exit 3' });
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 2, maxRetries: 1 }, 'replay-batch');
  const worker = await startWorker(server.env, taskQueue, 2);
  await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
  const ids = [state.batchId, ...state.experiments.map((experiment) => `${state.batchId}/${experiment.name}`)];
  for (const workflowId of ids) {
    const history = await server.env.client.workflow.getHandle(workflowId).fetchHistory();
    await writeFile(path.join(FIXTURES, `${workflowId.replace('/', '__')}.bin`), encodeHistory(history));
  }
}

test('recorded batch and experiment histories replay against the current workflow code', async () => {
  if (recording) await recordHistories();
  const replay = await execa(process.execPath, [REPLAYER, FIXTURES], { reject: false });
  const lines = String(replay.stdout).split('\n').filter(Boolean);
  expect(lines.filter((line) => line.startsWith('FAIL'))).toEqual([]);
  expect(lines.filter((line) => line.startsWith('OK')).length).toBeGreaterThanOrEqual(4);
  expect(replay.exitCode).toBe(0);
}, 60_000);
