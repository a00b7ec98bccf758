/**
 * Prometheus metrics, scraped over HTTP from a real worker process (`--metrics`) and from the dev
 * server, and checked against a batch the test ran and the journal its processes wrote.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { batchSummary, findBatch, queryBatchState } from '../../src/batch-client/index.js';
import { freePort } from '../../src/server/dev-server-process.js';
import { METRICS } from '../../src/model/metric-names.js';
import { CLI, until, workerProcessesPerTest } from '../helpers/processes.js';
import { readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { uniqueQueue, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const startWorkerProcess = workerProcessesPerTest();

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (the format both endpoints serve). */
function parseExposition(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) return [];
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    return [{ name: match[1], labels, value: Number(match[3]) }];
  });
}

/** The sum over the series of `name` whose labels include `labels`; undefined when there is none. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const matching = samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  return matching.length ? matching.reduce((sum, sample) => sum + sample.value, 0) : undefined;
}

/** Submits the experiments in `dir` as `submit --detach` does; returns the batch's id and handle. */
async function submit(dir: string, taskQueue: string, args: string[]) {
  const submitted = await execa(process.execPath, [CLI, 'submit', '--dir', '.', '--detach', '--json', ...args], {
    cwd: dir,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue },
    reject: false,
  });
  expect(submitted.exitCode).toBe(0);
  const { batchId } = JSON.parse(String(submitted.stdout)) as { batchId: string };
  return { batchId, handle: (await findBatch(server.env.client, batchId))!.handle };
}

/** A worker process serving metrics on a port of its own, and its endpoint's URL. */
async function workerWithMetrics(taskQueue: string) {
  const address = `127.0.0.1:${await freePort()}`;
  const worker = await startWorkerProcess(server.env.address, taskQueue, 3, ['--metrics', address]);
  return { worker, url: `http://${address}/metrics` };
}

/** The worker's samples once the batch's last count has left it: with the workflow task that ended the batch. */
async function scrapeWhenEnded(url: string, batchId: string, experiments: number): Promise<Sample[]> {
  let samples: Sample[] = [];
  await until(
    async () => {
      samples = await scrape(url);
      return total(samples, METRICS.ended.name, { batch: batchId }) === experiments;
    },
    15_000,
    `the worker to count ${experiments} experiments ended`,
  );
  return samples;
}

async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(url);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseExposition(await response.text());
}

test(
  "a worker's endpoint counts a batch of 3 (one failing once, then retried; one drawing 5 quota calls) as it ran, " +
    "beside the SDK's metrics; the dev server serves its own",
  async () => {
    const { dir, journal } = await tempExperimentsDir('metrics');
    await writeFile(
      path.join(dir, 'staged.config.json'),
      JSON.stringify({ quotas: { metered: { limit: '1000/1m', hosts: ['127.0.0.1:9'] } } }),
    );
    await writeScript(dir, 'exp1_release', journal, {
      title: 'exp1 release check\n# Priority: critical',
      body: 'sleep 1.2',
    });
    // Fails its first attempt (exit 3), completes its second.
    await writeScript(dir, 'exp2_flaky', journal, { body: 'sleep 1.2; [ "$STAGED_ATTEMPT" -ge 2 ] || exit 3' });
    await writeScript(dir, 'exp3_metered', journal, {
      title: 'exp3 uses the API\n# Quota: metered',
      body: 'sleep 1.2; staged-quota acquire metered 5',
    });
    const taskQueue = uniqueQueue();
    const { url: workerUrl } = await workerWithMetrics(taskQueue);
    const { batchId, handle } = await submit(dir, taskQueue, ['--max-retries', '1', '--retry-delay', '100ms']);
    const summary = await batchSummary(handle);
    expect(summary.experiments.map((e) => [e.name, e.status, e.attempts])).toEqual([
      ['exp1_release', 'completed', 1],
      ['exp2_flaky', 'completed', 2],
      ['exp3_metered', 'completed', 1],
    ]);

    const batch = { batch: batchId };
    const samples = await scrapeWhenEnded(workerUrl, batchId, 3);
    expect(total(samples, METRICS.submitted.name, batch)).toBe(3);
    expect(total(samples, METRICS.submitted.name, { ...batch, priority: 'critical' })).toBe(1);
    expect(total(samples, METRICS.submitted.name, { ...batch, priority: 'medium' })).toBe(2);
    expect(total(samples, METRICS.started.name, batch)).toBe(3);
    expect(total(samples, METRICS.ended.name, { ...batch, status: 'completed' })).toBe(3);
    expect(total(samples, METRICS.ended.name, { ...batch, status: 'failed' }) ?? 0).toBe(0);
    expect(total(samples, METRICS.attempts.name, batch)).toBe(4);
    expect(total(samples, METRICS.retries.name, batch)).toBe(1);
    expect(total(samples, METRICS.retries.name, { ...batch, priority: 'medium' })).toBe(1);
    expect(total(samples, METRICS.running.name, batch)).toBe(0);
    // staged's metrics carry the task queue as the SDK tags workflow metrics (taskQueue); its own as task_queue.
    expect(total(samples, METRICS.slots.name, { taskQueue })).toBe(3);
    expect(total(samples, METRICS.attempts.name, { ...batch, taskQueue })).toBe(4);
    expect(total(samples, METRICS.quotaGranted.name, { quota: 'metered' })).toBe(5);

    // One start-wait and one duration per process the journal shows; each process ran over 1.2 s.
    const starts = (await readJournal(journal)).filter((entry) => entry.event === 'start');
    expect(starts).toHaveLength(4);
    expect(total(samples, `${METRICS.startWait.name}_count`, batch)).toBe(4);
    const durations = `${METRICS.runDuration.name}_bucket`;
    expect(total(samples, durations, { ...batch, outcome: 'completed', le: '+Inf' })).toBe(3);
    expect(total(samples, durations, { ...batch, outcome: 'failed', le: '+Inf' })).toBe(1);
    expect(total(samples, durations, { ...batch, le: '1' })).toBe(0);
    expect(total(samples, durations, { ...batch, le: '10' })).toBe(4);
    expect(total(samples, `${METRICS.runDuration.name}_sum`, batch)).toBeGreaterThanOrEqual(4 * 1.2);

    // The SDK's own metrics, on the same endpoint: 3 experiment workflows and their batch completed on this queue.
    const queue = { task_queue: taskQueue };
    expect(total(samples, 'temporal_workflow_completed', { ...queue, workflow_type: 'experimentWorkflow' })).toBe(3);
    expect(total(samples, 'temporal_workflow_completed', { ...queue, workflow_type: 'batchWorkflow' })).toBe(1);
    expect(
      total(samples, 'temporal_activity_execution_latency_count', { ...queue, activity_type: 'runExperiment' }),
    ).toBe(4);

    // The server's own names: its history service saw the same 4 workflows succeed (its labels write - as _).
    // It reports to its exporter every second or so: polled until the last one shows.
    const serverQueue = { taskqueue: taskQueue.replaceAll('-', '_') };
    let serverSamples: Sample[] = [];
    const succeeded = (workflowType: string) =>
      total(serverSamples, 'workflow_success', { ...serverQueue, workflowType });
    await until(
      async () => {
        serverSamples = await scrape(server.env.devServer.metricsUrl);
        return succeeded('batchWorkflow') === 1;
      },
      15_000,
      'the server to count the batch workflow succeeded',
    );
    expect(succeeded('experimentWorkflow')).toBe(3);
    expect(
      total(serverSamples, 'service_requests', { service_name: 'frontend', operation: 'StartWorkflowExecution' }),
    ).toBeGreaterThanOrEqual(1);
  },
);

test('a worker SIGKILLed mid-batch: the next one replays the batch and counts only what came after', async () => {
  const { dir, journal } = await tempExperimentsDir('metrics-replay');
  const gate = path.join(dir, '_go');
  for (const name of ['exp1_a', 'exp2_b'])
    await writeScript(dir, name, journal, { body: `while [ ! -f "${gate}" ]; do sleep 0.1; done` });
  const taskQueue = uniqueQueue();
  const first = await workerWithMetrics(taskQueue);
  const { batchId, handle } = await submit(dir, taskQueue, ['--heartbeat-timeout', '2s', '--kill-grace', '1s']);
  await until(
    async () => (await queryBatchState(handle)).records.every((record) => record.status === 'running'),
    60_000,
    'both experiments to be running',
  );
  const batch = { batch: batchId };
  const before = await scrape(first.url);
  expect(total(before, METRICS.submitted.name, batch)).toBe(2);
  expect(total(before, METRICS.started.name, batch)).toBe(2);
  expect(total(before, METRICS.running.name, batch)).toBe(2);

  first.worker.kill('SIGKILL');
  await first.worker.exited();
  const second = await workerWithMetrics(taskQueue);
  await writeFile(gate, '');
  const summary = await batchSummary(handle);
  expect(summary.experiments.map((e) => [e.status, e.attempts])).toEqual([
    ['completed', 1],
    ['completed', 1],
  ]);

  const after = await scrapeWhenEnded(second.url, batchId, 2);
  expect(
    total(after, 'temporal_workflow_task_replay_latency_count', { workflow_type: 'batchWorkflow' }),
  ).toBeGreaterThan(0);
  // Submitted and started were in the history it replayed: not counted again.
  expect(total(after, METRICS.submitted.name, batch)).toBeUndefined();
  expect(total(after, METRICS.started.name, batch)).toBeUndefined();
  expect(total(after, METRICS.attempts.name, batch)).toBeUndefined();
  expect(total(after, `${METRICS.startWait.name}_count`, batch)).toBeUndefined();
  // It adopted both runs and saw them end.
  expect(total(after, METRICS.ended.name, { ...batch, status: 'completed' })).toBe(2);
  expect(total(after, `${METRICS.runDuration.name}_count`, { ...batch, outcome: 'completed' })).toBe(2);
  expect(total(after, METRICS.running.name, batch)).toBe(0);
  expect((await readJournal(journal)).filter((entry) => entry.event === 'start')).toHaveLength(2);
});
