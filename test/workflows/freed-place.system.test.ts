/**
 * A run that exits 0 gives its place back at once: the batch starts the next experiment while the experiment
 * workflow is still closing. Measured from the workflows' histories and the scripts' own stamps on a real server.
 */
import { batchSummary } from '../../src/batch-client/index.js';
import { cleanExitSignal } from '../../src/protocol/messages.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { maxOverlap, readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';

const server = useTestServer();

type Stamp = { seconds?: { toString(): string } | null; nanos?: number | null } | null | undefined;
const epochMs = (time: Stamp) => Number(time?.seconds?.toString() ?? 0) * 1_000 + (time?.nanos ?? 0) / 1e6;

async function eventsOf(workflowId: string) {
  return (await server.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
}

test('the next experiment starts before the previous experiment workflow closed; cap and order hold', async () => {
  const { dir, journal } = await tempExperimentsDir('freed-place');
  const names = ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d'];
  for (const name of names) await writeScript(dir, name, journal, { body: 'sleep 0.3' });
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 1 });
  const worker = await startWorker(server.env, taskQueue, 1);

  const summary = await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));

  expect(summary.experiments.map((experiment) => [experiment.name, experiment.status])).toEqual(
    names.map((name) => [name, 'completed']),
  );
  const entries = await readJournal(journal);
  const starts = entries.filter((entry) => entry.event === 'start').sort((a, b) => a.atMs - b.atMs);
  expect(starts.map((entry) => entry.name)).toEqual(names);
  expect(maxOverlap(entries)).toBe(1);

  const batchEvents = await eventsOf(state.batchId);
  const startedAt = (name: string) =>
    epochMs(
      batchEvents.find(
        (event) => event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === `${state.batchId}/${name}`,
      )?.eventTime,
    );
  const cleanExits = batchEvents.filter(
    (event) => event.workflowExecutionSignaledEventAttributes?.signalName === cleanExitSignal.name,
  );
  expect(cleanExits).toHaveLength(names.length);
  for (const [i, name] of names.slice(0, -1).entries()) {
    const closed = (await eventsOf(`${state.batchId}/${name}`)).find(
      (event) => event.workflowExecutionCompletedEventAttributes,
    );
    expect(startedAt(names[i + 1])).toBeGreaterThan(0);
    expect(startedAt(names[i + 1])).toBeLessThan(epochMs(closed?.eventTime));
  }
}, 120_000);
