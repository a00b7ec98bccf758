/**
 * A run that exits 0 gives its place back at once: the batch starts the next experiment while the experiment
 * workflow is still closing. Read from the batch history and the scripts' own stamps on a real server. And an
 * experiment's history stays short: no patch marker (each costs two events).
 */
import { batchSummary } from '../../src/batch-client/index.js';
import { cleanExitSignal } from '../../src/protocol/messages.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { maxOverlap, readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';

const server = useTestServer();

async function eventsOf(workflowId: string) {
  return (await server.env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
}

test('the next experiment starts before the batch hears the previous one closed; cap and order hold', async () => {
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
  const positionOf = (matches: (event: (typeof batchEvents)[number]) => boolean) => batchEvents.findIndex(matches);
  const childId = (name: string) => `${state.batchId}/${name}`;
  const started = (name: string) =>
    positionOf((event) => event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === childId(name));
  const closed = (name: string) =>
    positionOf(
      (event) => event.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId === childId(name),
    );
  const cleanExits = batchEvents.filter(
    (event) => event.workflowExecutionSignaledEventAttributes?.signalName === cleanExitSignal.name,
  );
  expect(cleanExits).toHaveLength(names.length);
  const handOvers = names.slice(0, -1).map((name, i) => ({ closed: closed(name), nextStarted: started(names[i + 1]) }));
  for (const handOver of handOvers) expect(Math.min(handOver.closed, handOver.nextStarted)).toBeGreaterThan(0);
  // Which of the signal and the child's close reaches the batch first is a race; the signal wins it most times.
  const startedBeforeClose = handOvers.filter((handOver) => handOver.nextStarted < handOver.closed);
  expect(startedBeforeClose.length).toBeGreaterThan(0);
}, 120_000);

test('an experiment workflow records no patch marker', async () => {
  const { dir, journal } = await tempExperimentsDir('no-marker');
  await writeScript(dir, 'exp1_a', journal);
  const { taskQueue, state } = await batchIn(dir);
  const worker = await startWorker(server.env, taskQueue, 1);
  await worker.runUntil(async () => batchSummary(await startBatch(server.env, state)));

  const events = await eventsOf(`${state.batchId}/exp1_a`);
  expect(events.filter((event) => event.markerRecordedEventAttributes)).toHaveLength(0);
  expect(events.some((event) => event.activityTaskCompletedEventAttributes)).toBe(true);
}, 60_000);
