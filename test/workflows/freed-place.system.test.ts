/**
 * A run that exits 0 gives its place back at once: the batch starts the next experiment while the experiment
 * workflow is still closing; places freed together where worker slots were free are refilled together. Read from
 * the batch history and the scripts' own stamps on a real server. And an experiment's history stays short: no
 * patch marker (each costs two events).
 */
import { batchSummary } from '../../src/batch-client/index.js';
import { cleanExitSignal } from '../../src/protocol/messages.js';
import { batchIn, startBatch, startWorker, useTestServer } from '../helpers/temporal.js';
import { maxOverlap, readJournal, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { until } from '../helpers/processes.js';
import { closedGate } from '../helpers/gate.js';

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

test('places freed at once where worker slots were free are refilled in one workflow task; the cap holds', async () => {
  const { dir, journal } = await tempExperimentsDir('refill-at-once');
  // The first four wait at one gate, opened for all of them at once: they exit in the same moment.
  const gate = await closedGate(dir);
  const gated = ['exp1_a', 'exp2_b', 'exp3_c', 'exp4_d'];
  for (const name of gated) await writeScript(dir, name, journal, { body: gate.wait });
  const next = ['exp5_e', 'exp6_f', 'exp7_g', 'exp8_h'];
  for (const name of next) await writeScript(dir, name, journal, { body: 'sleep 0.2' });
  const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 4 });
  const worker = await startWorker(server.env, taskQueue, 8); // four slots stay free beside the four runs

  const summary = await worker.runUntil(async () => {
    const handle = await startBatch(server.env, state);
    await until(async () => (await gate.waiting()) === gated.length, 30_000, 'the first four to wait at the gate');
    await gate.open();
    return batchSummary(handle);
  });

  expect(summary.experiments.filter((experiment) => experiment.status !== 'completed')).toEqual([]);
  const entries = await readJournal(journal);
  expect(maxOverlap(entries)).toBeLessThanOrEqual(4);
  const starts = entries.filter((entry) => entry.event === 'start').sort((a, b) => a.atMs - b.atMs);
  // With slots free, runs of children started one per task may begin in any order: only the first four are these.
  expect(
    starts
      .slice(0, 4)
      .map((entry) => entry.name)
      .sort(),
  ).toEqual(gated);

  // Children started by each workflow task of the batch: one each while it filled its places, several at once after.
  const startsPerTask: number[] = [];
  for (const event of await eventsOf(state.batchId)) {
    if (event.workflowTaskCompletedEventAttributes) startsPerTask.push(0);
    else if (event.startChildWorkflowExecutionInitiatedEventAttributes) startsPerTask[startsPerTask.length - 1]++;
  }
  const busy = startsPerTask.filter((count) => count > 0);
  console.log(`[figure] children started per workflow task of the batch: ${busy.join(', ')}`);
  expect(busy.slice(0, 4)).toEqual([1, 1, 1, 1]);
  expect(Math.max(...busy)).toBeGreaterThan(1);
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
