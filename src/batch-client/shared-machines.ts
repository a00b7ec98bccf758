/**
 * Machines where several live workers of the task queue count the same runs (one runs directory): each counts every
 * run alive there against its own `--slots`, so together they run no more than the largest `--slots` of them, and a
 * second worker that looks idle adds nothing. Read from the workers' identities (`slots=`, `runs=`).
 */
import { hostname } from 'node:os';
import type { WorkflowClient } from '@temporalio/client';
import { slotsInIdentity } from '../model/requirements.js';
import { machineIdSetting } from '../settings.js';
import { exitedHere, POLLING_WITHIN_MS, processAlive } from './kept-state.js';
import { askPollers, type AskedPollers, type Poller } from './machines.js';

export interface SharedMachine {
  machineId: string;
  /** Its live workers counting one runs directory, by pid, with their `--slots`. */
  workers: { pid: number; slots: number }[];
  /** The most runs the machine runs at once for the task queue: the largest `--slots` of them. */
  atOnce: number;
}

/** The machines with more than one live worker counting the same runs, among these pollers. */
export function sharedMachinesAmong(pollers: readonly Poller[], now = Date.now()): SharedMachine[] {
  const here = machineIdSetting() ?? hostname();
  const byRuns = new Map<string, SharedMachine>();
  for (const { identity, lastPollAt } of pollers) {
    const match = /^(\d+)@(\S+)/.exec(identity);
    const { slots, runs } = slotsInIdentity(identity);
    if (!match || slots === undefined || runs === undefined || now - lastPollAt > POLLING_WITHIN_MS) continue;
    if (exitedHere(identity, here, processAlive)) continue; // a worker of this machine that has exited since
    const key = `${match[2]} ${runs}`;
    const machine = byRuns.get(key) ?? { machineId: match[2], workers: [], atOnce: 0 };
    if (machine.workers.some((worker) => worker.pid === Number(match[1]))) continue;
    machine.workers.push({ pid: Number(match[1]), slots });
    machine.atOnce = Math.max(machine.atOnce, slots);
    byRuns.set(key, machine);
  }
  const shared = [...byRuns.values()].filter((machine) => machine.workers.length > 1);
  for (const machine of shared) machine.workers.sort((a, b) => a.pid - b.pid);
  return shared;
}

/**
 * The task queue's shared machines, from its pollers when they were asked for already; none when the server does not
 * answer (status says nothing rather than guess).
 */
export async function sharedMachines(
  client: WorkflowClient,
  taskQueue: string,
  asked: AskedPollers = askPollers(client, taskQueue),
): Promise<SharedMachine[]> {
  const pollers = await asked;
  return sharedMachinesAmong(pollers ?? []);
}
