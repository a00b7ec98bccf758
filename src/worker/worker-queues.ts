/**
 * The task queues whose runs this machine takes only while it has room: with `--resources`, one per non-empty
 * subset of its resource names. Each SDK worker gets its task slots from the capacity ledger (the SDK's custom
 * slot supplier), so a full machine leaves the task to another worker.
 */
import { createHash } from 'node:crypto';
import { Worker, type CustomSlotSupplier, type SlotInfo, type WorkerOptions } from '@temporalio/worker';
import type { StagedActivities } from '../activities/index.js';
import type { CapacityLedger } from '../machine/capacity.js';
import { activityOnlyQueue } from '../machine/sdk-logger.js';
import {
  formatMachineResources,
  IDENTITY_RESOURCES_MARK,
  IDENTITY_RUNS_MARK,
  IDENTITY_SERVES_MARK,
  IDENTITY_SLOTS_MARK,
  nonEmptySubsets,
  requirementQueueOf,
  type MachineResources,
} from '../model/requirements.js';

/** The activity that runs a process; the others on these queues are short calls that hold no slot. */
const RUN_ACTIVITY: keyof StagedActivities = 'runExperiment';

interface QueuePermit {
  used?: boolean;
}

/**
 * Lets the queue's worker poll only while the ledger lets the machine take a task needing `names`, and at most one
 * poll waiting for a task: a run it took is counted before the next poll is allowed.
 */
function ledgerSlots(ledger: CapacityLedger, queue: string, names: string[]): CustomSlotSupplier<SlotInfo> {
  let pollPending = false;
  return {
    type: 'custom',
    async reserveSlot(_ctx, abortSignal) {
      while (pollPending || !ledger.mayTake(names)) await ledger.changed(abortSignal);
      pollPending = true;
      return {} satisfies QueuePermit;
    },
    tryReserveSlot: () => null, // eager tasks would bypass the check above
    markSlotUsed({ permit, slotInfo }) {
      const ticket = permit as QueuePermit;
      ticket.used = true;
      pollPending = false;
      // The run's claim, or its end without one, takes the placeholder away (run-experiment.ts)
      if (slotInfo.type === 'activity' && slotInfo.activityType === RUN_ACTIVITY) ledger.taskTaken(queue, names);
      else ledger.wake(); // a reservation of this queue waits for pollPending
    },
    releaseSlot({ permit }) {
      if ((permit as QueuePermit).used) return;
      pollPending = false;
      ledger.wake();
    },
  };
}

/** Task slots of a queue whose runs the ledger gates; no local activity or Nexus task comes to staged's queues. */
function gatedTuner(ledger: CapacityLedger, queue: string, names: string[]): WorkerOptions['tuner'] {
  return {
    activityTaskSlotSupplier: ledgerSlots(ledger, queue, names),
    workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
    localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
    nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
  };
}

/** The SDK workers of a machine's requirement queues (none without resources). */
export async function createRequirementWorkers(
  common: Omit<WorkerOptions, 'taskQueue'>,
  taskQueue: string,
  ledger: CapacityLedger,
): Promise<Worker[]> {
  const { counted, capabilities } = ledger.machine;
  return Promise.all(
    nonEmptySubsets([...Object.keys(counted), ...capabilities]).map((names) => {
      const queue = requirementQueueOf(taskQueue, names);
      return Worker.create({
        ...common,
        taskQueue: activityOnlyQueue(queue),
        tuner: gatedTuner(ledger, queue, names), // activities only: no workflow runs there
        maxConcurrentActivityTaskPolls: 1,
      });
    }),
  );
}

/** Readable, yet split by `,` and ` ` unambiguously: only `%`, `,` and white space are %-encoded. */
function encodeServedRoot(root: string): string {
  return root.replace(/[%,\s]/g, encodeURIComponent);
}

/** Temporal refuses longer identities (its ID length limit is 1,000): past this, served directories are left out. */
const MAX_IDENTITY_LENGTH = 900;

/** Names a runs directory in a worker's identity, short: workers of one machine that count the same runs share it. */
function runsDigestOf(runsDir: string): string {
  return createHash('sha256').update(runsDir).digest('hex').slice(0, 8);
}

/**
 * The worker's identity as pollers show it, with its slots, the runs directory it counts, the directories it serves
 * and what the machine has: `submit`, `status` and workers handing a run back read them
 * (`<pid>@<machine> slots=3 runs=1f2e3d4c serves=/a,/b resources=gpu=1`).
 */
export function workerIdentityOf(
  machineId: string,
  machine: MachineResources,
  servedRoots: readonly string[],
  counts?: { slots: number; runsDir: string },
): string {
  const resources = formatMachineResources(machine);
  const withResources = resources ? `${IDENTITY_RESOURCES_MARK}${resources}` : '';
  const serves = `${IDENTITY_SERVES_MARK}${servedRoots.map(encodeServedRoot).join(',')}`;
  const worker =
    `${process.pid}@${machineId}` +
    (counts ? ` ${IDENTITY_SLOTS_MARK}${counts.slots} ${IDENTITY_RUNS_MARK}${runsDigestOf(counts.runsDir)}` : '');
  const full = `${worker}${serves}${withResources}`;
  return full.length <= MAX_IDENTITY_LENGTH ? full : `${worker}${withResources}`;
}
