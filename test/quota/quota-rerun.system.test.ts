/** A run its API refused (a 429 reported during it, or exit 75 from a run with a quota) runs again using no retry. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { batchSummary, queryBatchState } from '../../src/batch-client/index.js';
import { batchSummaryFile } from '../../src/paths.js';
import { RateLimitedApi } from '../helpers/rate-limited-api.js';
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

test(
  'exit 75 (EX_TEMPFAIL) on the first attempt of an experiment with a quota: waiting-quota, then a second run, with ' +
    '--max-retries 0; from an experiment without a quota, exit 75 is a plain failure',
  async () => {
    const dir = await tempDir('quota-tempfail');
    const journal = path.join(dir, '_journal');
    const firstRunRefused = 'if [ "$STAGED_ATTEMPT" = 1 ]; then exit 75; fi';
    await writeScript(dir, 'exp1_tempfail', journal, {
      title: 'Refused once.\n#\n# Quota: api\n# Metering: manual',
      body: firstRunRefused,
    });
    await writeScript(dir, 'exp2_no_quota', journal, { body: firstRunRefused });
    const taskQueue = uniqueQueue();
    const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxRetries: 0 });
    const quotas = { api: { limit: 100, windowMs: 1_000, hosts: ['api.example'] } };
    const state = await quotaBatchStateFor(server.env, settings, quotas);
    const worker = await startWorker(server.env, taskQueue);
    const summary = await worker.runUntil(async () => {
      const handle = await startBatch(server.env, state);
      let sawWaiting = false;
      const end = batchSummary(handle);
      while (!sawWaiting) {
        const { records, experiments } = await queryBatchState(handle);
        const record = records[experiments.findIndex((experiment) => experiment.name === 'exp1_tempfail')];
        sawWaiting = record.status === 'waiting-quota';
        if (record.status === 'completed') break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(sawWaiting).toBe(true);
      return end;
    });
    const byName = Object.fromEntries(summary.experiments.map((experiment) => [experiment.name, experiment]));
    expect(byName.exp1_tempfail).toMatchObject({ status: 'completed', attempts: 2 });
    expect(byName.exp2_no_quota).toMatchObject({ status: 'failed', attempts: 1, exitCode: 75 });
  },
  60_000,
);

test('a run that fails after its API answered 429 runs again, using no retry; the summary has its calls', async () => {
  const api = new RateLimitedApi({ limit: 1, windowMs: 60_000, retryAfterSeconds: 1 });
  const { port } = await api.start();
  try {
    const dir = await tempDir('quota-429');
    await writeFile(
      path.join(dir, 'staged.config.json'),
      JSON.stringify({ quotas: { fakeapi: { limit: '100/1s', hosts: [`127.0.0.1:${port}`] } } }),
    );
    // The first attempt calls twice (the API allows one a minute): the second call is refused and the script fails.
    const source = [
      '"""Calls the API; fails when refused.',
      '',
      'Quota: fakeapi',
      '"""',
      'import os, urllib.request',
      'calls = 2 if os.environ["STAGED_ATTEMPT"] == "1" else 0',
      'for call in range(calls):',
      `    urllib.request.urlopen("http://127.0.0.1:${port}/quote").read()`,
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'exp1_refused.py'), source);
    const taskQueue = uniqueQueue();
    const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxRetries: 0 });
    const quotas = { fakeapi: { limit: 100, windowMs: 1_000, hosts: [`127.0.0.1:${port}`] } };
    const state = await quotaBatchStateFor(server.env, settings, quotas);
    const worker = await startWorker(server.env, taskQueue);
    const summary = await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    expect(api.rejections()).toHaveLength(1);
    // Both calls of the refused run were granted; the second run made none, and counts as 0.
    expect(summary.experiments[0]).toMatchObject({ status: 'completed', attempts: 2, calls: { fakeapi: 2 } });
    const written = JSON.parse(await readFile(batchSummaryFile(dir, state.batchId), 'utf8')) as typeof summary;
    expect(written.experiments[0].calls).toEqual({ fakeapi: 2 });
  } finally {
    await api.stop();
  }
}, 60_000);

test('a run that got calls again after a 429 and then failed on its own uses a retry', async () => {
  const api = new RateLimitedApi({ limit: 1, windowMs: 1_000, retryAfterSeconds: 1 });
  const { port } = await api.start();
  try {
    const dir = await tempDir('quota-own-bug');
    // Attempt 1: a call, a refused call, the same call again once the pause is over, then a bug (exit 1).
    const source = [
      '"""Handles a 429, then fails on its own bug.',
      '',
      'Quota: fakeapi',
      '"""',
      'import os, sys, urllib.error, urllib.request',
      'if os.environ["STAGED_ATTEMPT"] == "1":',
      '    done = 0',
      '    while done < 2:',
      '        try:',
      `            urllib.request.urlopen("http://127.0.0.1:${port}/quote").read()`,
      '            done += 1',
      '        except urllib.error.HTTPError as error:',
      '            if error.code != 429:',
      '                raise',
      'sys.exit(1)',
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'exp1_own_bug.py'), source);
    const taskQueue = uniqueQueue();
    const settings = testSettings({ experimentsDir: dir, workDir: dir, taskQueue, maxRetries: 1 });
    const quotas = { fakeapi: { limit: 100, windowMs: 1_000, hosts: [`127.0.0.1:${port}`] } };
    const state = await quotaBatchStateFor(server.env, settings, quotas);
    const worker = await startWorker(server.env, taskQueue);
    const summary = await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));
    expect(api.rejections().length).toBeGreaterThanOrEqual(1);
    expect(summary.experiments[0]).toMatchObject({ status: 'failed', attempts: 2 });
  } finally {
    await api.stop();
  }
}, 60_000);
