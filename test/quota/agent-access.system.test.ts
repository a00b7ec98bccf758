/** Who may draw on a quota: only a run that declares it, with its own token, through a socket only its user opens. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { batchSummary } from '../../src/batch-client/index.js';
import { PYTHON_DIR } from '../../src/quota/run-environment.js';
import { tempDir, writeScript } from '../helpers/scripts.js';
import {
  quotaBatchStateFor,
  startBatch,
  startWorker,
  testSettings,
  uniqueQueue,
  useTestServer,
} from '../helpers/temporal.js';

const server = useTestServer();

test('a run without the quota, or with a forged token, is refused; the socket is its user’s alone', async () => {
  const dir = await tempDir('quota-access');
  const journal = path.join(dir, '_journal');
  const out = (name: string) => path.join(dir, name);
  const command = path.join(PYTHON_DIR, 'bin', 'staged-quota');
  await writeScript(dir, 'exp1_declares', journal, {
    title: 'declares the quota\n# Quota: api',
    body: `"${command}" acquire api 2 2>"${out('declares.err')}"; echo $? >"${out('declares.code')}"`,
  });
  await writeScript(dir, 'exp2_undeclared', journal, {
    body: [
      `stat -L -c %a "$STAGED_QUOTA_SOCKET" >"${out('socket.mode')}"`,
      `"${command}" acquire api 1 2>"${out('undeclared.err')}"; echo $? >"${out('undeclared.code')}"`,
      `STAGED_QUOTA_TOKEN=forged0123 "${command}" acquire api 1 2>"${out('forged.err')}"`,
      `echo $? >"${out('forged.code')}"`,
    ].join('\n'),
  });
  const taskQueue = uniqueQueue();
  const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue });
  const quotas = { api: { limit: 100, windowMs: 1_000, hosts: ['api.example'] } };
  const state = await quotaBatchStateFor(server.env, settings, quotas);
  const worker = await startWorker(server.env, taskQueue);
  const summary = await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
  expect(summary.experiments.map((experiment) => experiment.status)).toEqual(['completed', 'completed']);

  const text = async (name: string) => (await readFile(out(name), 'utf8')).trim();
  expect(await text('declares.code')).toBe('0');
  expect(await text('undeclared.code')).toBe('1');
  expect(await text('undeclared.err')).toContain('(403): exp2_undeclared does not use quota "api"');
  expect(await text('forged.code')).toBe('1');
  expect(await text('forged.err')).toContain('(401): unknown run token');
  expect(await text('socket.mode')).toBe('600');
}, 60_000);
