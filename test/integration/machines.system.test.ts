/**
 * A batch spread over several machines keeps its promises. Each machine is a network namespace with
 * its own host name and runs directory and a real worker process reaching the server over a virtual
 * link (test/helpers/machines.ts). Checked from the experiment processes' own journal lines (times,
 * pids, host names), never from staged's bookkeeping.
 */
import { readFileSync } from 'node:fs';
import proto from '@temporalio/proto';
import { batchSummary } from '../../src/batch-client/index.js';
import { cuttableProxy, type CuttableProxy } from '../helpers/cuttable-proxy.js';
import { machineNetwork, whyNoMachines, type Machine, type MachineNetwork } from '../helpers/machines.js';
import { pidAlive, until } from '../helpers/processes.js';
import { journalLine, readJournal, tempExperimentsDir, writeScript, type JournalEntry } from '../helpers/scripts.js';
import { batchIn, startBatch, startTestServer, type TestServer } from '../helpers/temporal.js';

const ACTIVITY_QUEUE = proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY;
/** A worker is lost 2 s after its last heartbeat; a run it stops is dead 1 s later; runs wait 4 s for adoption. */
const QUICK_LOSS = { heartbeatTimeoutMs: 2_000, killGraceMs: 1_000 };
const ADOPT_WINDOW = ['--adopt-window', '4s'];

/** One process of an experiment, from its journal lines. */
interface Copy {
  name: string;
  host: string;
  pid: number;
  startMs: number;
  /** Its `end` or `stopped` line, or the moment its machine was killed with it. */
  endMs: number;
  how: 'end' | 'stopped' | 'killed' | 'unfinished';
}

/** Every process the journal shows; one that never wrote its last line ended with its machine, if killed. */
function copiesOf(entries: JournalEntry[], killed: { host: string; goneAt: number }[] = []): Copy[] {
  return entries
    .filter((entry) => entry.event === 'start')
    .map((start) => {
      const last = entries.find((e) => e.event !== 'start' && e.pid === start.pid && e.name === start.name);
      const host = start.host ?? '?';
      const death = killed.find((machine) => machine.host === host && machine.goneAt > start.atMs);
      return {
        name: start.name,
        host,
        pid: start.pid,
        startMs: start.atMs,
        endMs: last?.atMs ?? death?.goneAt ?? Infinity,
        how: last ? (last.event as 'end' | 'stopped') : death ? 'killed' : 'unfinished',
      };
    });
}

/** Most copies alive at one moment (an end at the same millisecond as a start comes first). */
function peak(copies: Copy[]): number {
  const events = copies.flatMap((c) => [
    { at: c.startMs, step: 1 },
    { at: c.endMs, step: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.step - b.step);
  let alive = 0;
  let most = 0;
  for (const { step } of events) most = Math.max(most, (alive += step));
  return most;
}

/** Experiments with two copies alive at once (each copy's start after the previous one's end, or not). */
function overlapping(copies: Copy[]): string[] {
  return [...new Set(copies.map((c) => c.name))].filter((name) => {
    const ordered = copies.filter((c) => c.name === name).sort((a, b) => a.startMs - b.startMs);
    return ordered.some((copy, i) => i > 0 && copy.startMs <= ordered[i - 1].endMs);
  });
}

const unfinishedOn = async (journal: string, host: string) =>
  copiesOf(await readJournal(journal)).filter((c) => c.host === host && c.how === 'unfinished');

function epochMs(time: { seconds?: { toString(): string } | null; nanos?: number | null } | null | undefined): number {
  return Number(time?.seconds ?? 0) * 1000 + (time?.nanos ?? 0) / 1e6;
}

function names(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `exp${i + 1}_job`);
}

const noMachines = whyNoMachines();
if (noMachines) console.warn(`[skip] machines.system.test.ts: ${noMachines}`);
const describeMachines = noMachines ? describe.skip : describe;

describeMachines('three machines (network namespaces with their own host names, links and runs)', () => {
  let network: MachineNetwork;
  let env: TestServer;
  /** The server as the machines reach it: a relay on the network's host side (the dev server listens on localhost). */
  let serverRelay: CuttableProxy;

  beforeAll(async () => {
    network = machineNetwork();
    env = await startTestServer();
    serverRelay = await cuttableProxy(env.address, network.hostIp);
  }, 120_000);
  afterEach(async () => {
    await network?.removeMachines();
  });
  afterAll(async () => {
    await serverRelay?.cut();
    await env?.teardown();
    await network?.teardown();
  });

  /** Machines m1, m2 … with these slots, each with a worker on `taskQueue`. */
  /** The worker processes inside `machine` (its keepers come and go with their runs). */
  function workerPidsIn(machine: Machine): number[] {
    return machine.processes().filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker.js');
      } catch {
        return false;
      }
    });
  }

  async function machinesWithSlots(taskQueue: string, slots: number[], extraArgs: string[] = []): Promise<Machine[]> {
    const machines = await Promise.all(slots.map((_, i) => network.addMachine(`m${i + 1}`)));
    await Promise.all(machines.map((m, i) => m.startWorker(serverRelay.address, taskQueue, slots[i], extraArgs)));
    return machines;
  }

  test('30 at --max-concurrent 6 use all three machines, within every machine’s slots and the cap', async () => {
    const { dir, journal } = await tempExperimentsDir('machines-spread');
    for (const [i, name] of names(30).entries()) {
      await writeScript(dir, name, journal, { host: true, body: `sleep ${[1, 1.5, 2][i % 3]}` });
    }
    const { taskQueue, state } = await batchIn(dir, { maxConcurrent: 6, maxRetries: 0 });
    const slots = { m1: 1, m2: 2, m3: 4 };
    await machinesWithSlots(taskQueue, Object.values(slots));

    const summary = await batchSummary(await startBatch(env, state));

    const copies = copiesOf(await readJournal(journal));
    expect(summary.experiments.map((e) => [e.status, e.attempts])).toEqual(Array(30).fill(['completed', 1]));
    expect(copies.map((c) => c.name).sort()).toEqual(names(30).sort());
    expect(copies.every((c) => c.how === 'end')).toBe(true);
    const peaks = Object.fromEntries(
      Object.keys(slots).map((host) => [host, peak(copies.filter((c) => c.host === host))]),
    );
    for (const [host, most] of Object.entries(peaks)) {
      expect(most).toBeGreaterThanOrEqual(1); // used
      expect(most).toBeLessThanOrEqual(slots[host as keyof typeof slots]);
    }
    expect(new Set(copies.map((c) => c.host))).toEqual(new Set(Object.keys(slots)));
    expect(peak(copies)).toBeLessThanOrEqual(6);
    const perHost = Object.keys(slots).map((host) => `${host} ${copies.filter((c) => c.host === host).length}`);
    console.log(
      `[figure] 30 experiments on slots 1/2/4 at cap 6: ran ${perHost.join(', ')}; most at once ` +
        `${Object.entries(peaks)
          .map(([host, most]) => `${host} ${most}`)
          .join(', ')}, all ${peak(copies)}`,
    );
  }, 120_000);

  test(
    'a machine that dies (its worker and every experiment process SIGKILLed at once) loses nothing: its ' +
      'experiments run again elsewhere, never two copies at once',
    async () => {
      const { dir, journal } = await tempExperimentsDir('machines-death');
      for (const name of names(12)) await writeScript(dir, name, journal, { host: true, body: 'sleep 4' });
      const { taskQueue, state } = await batchIn(dir, { ...QUICK_LOSS, maxConcurrent: 6, maxRetries: 0 });
      const [, , doomed] = await machinesWithSlots(taskQueue, [1, 2, 3], ADOPT_WINDOW);
      const handle = await startBatch(env, state);
      await until(async () => (await unfinishedOn(journal, 'm3')).length >= 2, 60_000, 'two runs on m3');

      const killedRuns = await unfinishedOn(journal, 'm3');
      const goneAt = await doomed.kill();
      const summary = await batchSummary(handle);

      const copies = copiesOf(await readJournal(journal), [{ host: 'm3', goneAt }]);
      const killed = copies.filter((c) => c.how === 'killed');
      // Those seen running before the kill, and any that started on m3 just before it.
      expect(killedRuns.every((run) => killed.some((c) => c.pid === run.pid))).toBe(true);
      expect(killed.some((c) => pidAlive(c.pid))).toBe(false);
      expect(doomed.processes()).toEqual([]);
      expect(summary.experiments.map((e) => e.status)).toEqual(Array(12).fill('completed'));
      const attempts = Object.fromEntries(summary.experiments.map((e) => [e.name, e.attempts]));
      for (const name of names(12)) {
        const own = copies.filter((c) => c.name === name);
        expect(own.filter((c) => c.how === 'end')).toHaveLength(1); // nothing lost, nothing run twice to its end
        // Every process start counted (a run killed while its keeper started counts too, though it wrote nothing).
        expect(attempts[name]).toBeGreaterThanOrEqual(own.length);
      }
      const reruns = copies.filter((c) => c.how === 'end' && killed.some((k) => k.name === c.name));
      expect(reruns.every((c) => c.host !== 'm3' && c.startMs > goneAt)).toBe(true);
      expect(overlapping(copies)).toEqual([]);
      expect(peak(copies.filter((c) => c.host === 'm1'))).toBeLessThanOrEqual(1);
      expect(peak(copies.filter((c) => c.host === 'm2'))).toBeLessThanOrEqual(2);
      expect(peak(copies.filter((c) => c.host === 'm3'))).toBeLessThanOrEqual(3);
      expect(peak(copies)).toBeLessThanOrEqual(6);
      console.log(
        `[figure] m3 killed with ${killed.length} runs: they started again on ` +
          `${reruns.map((c) => `${c.host} ${((c.startMs - goneAt) / 1000).toFixed(1)} s`).join(', ')} after the kill ` +
          `(heartbeat timeout 2 s, adopt window 4 s, grace 1 s)`,
      );
    },
    120_000,
  );

  test(
    'a machine cut off from the network stops its runs itself before another machine starts them, then ' +
      'rejoins and takes work again when its link comes back',
    async () => {
      const { dir, journal } = await tempExperimentsDir('machines-cut');
      // A TERM trap records when the run was stopped (the sleep runs in the background so that the trap runs at once).
      const stoppable = `trap '${journalLine(journal, 'stopped', true)}; exit 143' TERM\nsleep 10 & wait $!`;
      for (const name of names(6)) await writeScript(dir, name, journal, { host: true, body: stoppable });
      const first = await batchIn(dir, { ...QUICK_LOSS, maxConcurrent: 6, maxRetries: 0 });
      const [, , cutOff] = await machinesWithSlots(first.taskQueue, [1, 2, 2], ADOPT_WINDOW);
      const cutOffWorker = workerPidsIn(cutOff); // not its keepers: a standby keeper ends with the run it takes
      const firstHandle = await startBatch(env, first.state);
      await until(async () => (await unfinishedOn(journal, 'm3')).length === 2, 60_000, 'two runs on m3');

      const cutRuns = await unfinishedOn(journal, 'm3');
      cutOff.cutLink();
      const cutAt = Date.now();
      const startedElsewhere = async () => {
        const copies = copiesOf(await readJournal(journal));
        return cutRuns.every((run) => copies.some((c) => c.name === run.name && c.host !== 'm3'));
      };
      await until(startedElsewhere, 90_000, "m3's runs to start on another machine");
      const workerAliveWhileCut = cutOffWorker.every(pidAlive);
      cutOff.restoreLink();
      const restoredAt = Date.now();
      const pollsAgainAt = await nextPollFrom('m3', first.taskQueue, restoredAt);
      const cutWorkflows = cutRuns.map((run) => `${first.state.batchId}/${run.name}`);
      const adoptsLostInTheCut = await adoptTasksTakenBy('m3', cutWorkflows, cutAt, restoredAt);
      const { dir: secondDir, journal: secondJournal } = await tempExperimentsDir('machines-rejoin');
      // More runs than m1 and m2 take in two rounds: m3's slots are free again well before the last ones start
      // (its cut runs' activities end only once their results can reach the server again).
      for (const name of names(12)) {
        await writeScript(secondDir, name, secondJournal, { host: true, body: 'sleep 2' });
      }
      const second = await batchIn(secondDir, { ...QUICK_LOSS, maxConcurrent: 6, taskQueue: first.taskQueue });
      const secondHandle = await startBatch(env, second.state);
      const [firstSummary, secondSummary] = await Promise.all([batchSummary(firstHandle), batchSummary(secondHandle)]);

      const copies = copiesOf(await readJournal(journal));
      const cutCopies = copies.filter((c) => cutRuns.some((run) => run.pid === c.pid));
      const othersOf = (copy: Copy) => copies.filter((c) => c.name === copy.name && c !== copy);
      const secondCopies = copiesOf(await readJournal(secondJournal));
      const rejoined = secondCopies.filter((c) => c.host === 'm3');
      const restarts = cutCopies.map((copy) => Math.min(...othersOf(copy).map((c) => c.startMs)));
      const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      console.log(
        `[figure] m3 cut off with 2 runs: stopped by their keepers ` +
          `${cutCopies.map((c) => seconds(c.endMs - cutAt)).join(', ')} after the cut (adopt window 4 s); ` +
          `started on other machines ${restarts.map((at) => seconds(at - cutAt)).join(', ')} after it; ` +
          `link down ${seconds(restoredAt - cutAt)}; ${adoptsLostInTheCut} adopt task lost to a poll m3 sent ` +
          `before the cut; m3 polled again ${seconds(pollsAgainAt - restoredAt)} after the link came back and ` +
          `its runs of the next batch ended: ${rejoined.map((c) => c.how).join(', ') || 'none ran there'}`,
      );
      expect(workerAliveWhileCut).toBe(true); // only its link was cut
      expect(cutCopies.map((c) => c.how)).toEqual(['stopped', 'stopped']); // stopped by its keeper, not finished
      for (const copy of cutCopies) {
        expect(copy.endMs).toBeLessThan(restoredAt); // on its own, while cut off
        expect(othersOf(copy).every((other) => copy.endMs < other.startMs)).toBe(true);
      }
      // At most one poll of m3's own queue was waiting at the server when the link went down: one adopt task lost.
      expect(adoptsLostInTheCut).toBeLessThanOrEqual(1);
      expect(overlapping(copies)).toEqual([]);
      expect(firstSummary.experiments.map((e) => e.status)).toEqual(Array(6).fill('completed'));
      for (const name of names(6)) expect(copies.filter((c) => c.name === name && c.how === 'end')).toHaveLength(1);
      expect(secondSummary.experiments.map((e) => e.status)).toEqual(Array(12).fill('completed'));
      expect(rejoined.length).toBeGreaterThanOrEqual(1);
      expect(rejoined.every((c) => c.startMs > restoredAt)).toBe(true);
      // Not stopped as abandoned: a run started soon after the link came back keeps a fresh lease.
      expect(rejoined.map((c) => c.how)).toEqual(rejoined.map(() => 'end'));
      const everything = [...copies, ...secondCopies];
      expect(peak(everything.filter((c) => c.host === 'm1'))).toBeLessThanOrEqual(1);
      expect(peak(everything.filter((c) => c.host === 'm2'))).toBeLessThanOrEqual(2);
      expect(peak(everything.filter((c) => c.host === 'm3'))).toBeLessThanOrEqual(2);
      expect(cutOffWorker.every(pidAlive)).toBe(true);
    },
    150_000,
  );

  /** Adopt tasks on `host`'s own queue that the server handed to a worker of `host` between `from` and `to`. */
  async function adoptTasksTakenBy(host: string, workflowIds: string[], from: number, to: number): Promise<number> {
    let taken = 0;
    for (const workflowId of workflowIds) {
      const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
      const onHostQueue = new Set(
        events
          .filter((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name?.endsWith(`@${host}`))
          .map((e) => Number(e.eventId)),
      );
      taken += events.filter((e) => {
        const started = e.activityTaskStartedEventAttributes;
        const at = epochMs(e.eventTime);
        return (
          machineOfIdentity(started?.identity ?? '') === host &&
          onHostQueue.has(Number(started?.scheduledEventId)) &&
          at > from &&
          at < to
        );
      }).length;
    }
    return taken;
  }

  /** When a worker on `host` next asked the server for work after `after` (its poller's last access). */
  async function nextPollFrom(host: string, taskQueue: string, after: number): Promise<number> {
    let polledAt = 0;
    await until(
      async () => {
        const { pollers } = await env.client.workflowService.describeTaskQueue({
          namespace: env.namespace,
          taskQueue: { name: taskQueue },
          taskQueueType: ACTIVITY_QUEUE,
        });
        for (const poller of pollers ?? []) {
          const at = epochMs(poller.lastAccessTime);
          if (machineOfIdentity(poller.identity ?? '') === host && at > after) polledAt = at;
        }
        return polledAt > 0;
      },
      90_000,
      `a worker on ${host} to poll again`,
    );
    return polledAt;
  }
});

/** The machine of a worker's identity: `<pid>@<machine id>`, then what it serves and holds after a space. */
function machineOfIdentity(identity: string): string {
  const first = identity.split(' ')[0];
  return first.slice(first.indexOf('@') + 1);
}
