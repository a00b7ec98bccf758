/**
 * A worker's machine resources: one SDK worker per requirement queue it can serve (every non-empty
 * subset of its resource names), and one ledger of the amounts its runs hold. A queue is polled only
 * while this machine has a free unit of each counted resource in its name, so a full machine leaves
 * the task to another; the ledger makes sure runs never hold more than the machine has.
 */
import { Worker, type CustomSlotSupplier, type SlotInfo, type WorkerOptions } from '@temporalio/worker';
import type { Placeholder, ResourceLedger } from '../machine/capacity.js';
import {
  formatMachineResources,
  IDENTITY_RESOURCES_MARK,
  IDENTITY_SERVES_MARK,
  nonEmptySubsets,
  requirementQueueOf,
  type MachineResources,
} from '../model/requirements.js';

interface QueuePermit {
  placeholder?: Placeholder;
}

/**
 * Lets the requirement queue's worker poll only while the machine has a unit of each of its counted names
 * free, and at most one poll waiting for a task: a task it took is counted before the next poll is allowed.
 */
function requirementSlots(ledger: ResourceLedger, queue: string, names: string[]): CustomSlotSupplier<SlotInfo> {
  let pollPending = false;
  return {
    type: 'custom',
    async reserveSlot(_ctx, abortSignal) {
      while (pollPending || !ledger.hasTaskRoom() || !ledger.hasUnitOfEach(names)) await ledger.changed(abortSignal);
      pollPending = true;
      return {} satisfies QueuePermit;
    },
    tryReserveSlot: () => null, // eager tasks would bypass the check above
    markSlotUsed({ permit }) {
      (permit as QueuePermit).placeholder = ledger.taskTaken(queue, names);
      ledger.taskStarted();
      pollPending = false;
    },
    releaseSlot({ permit }) {
      const { placeholder } = permit as QueuePermit;
      if (!placeholder) {
        pollPending = false;
        ledger.wake(); // a reservation of this queue waits for pollPending
        return;
      }
      ledger.settle(placeholder);
      ledger.taskFinished();
    },
  };
}

/** The SDK workers of a machine's requirement queues (none without resources). */
export async function createRequirementWorkers(
  common: Omit<WorkerOptions, 'taskQueue'>,
  taskQueue: string,
  ledger: ResourceLedger,
): Promise<Worker[]> {
  const { counted, capabilities } = ledger.machine;
  return Promise.all(
    nonEmptySubsets([...Object.keys(counted), ...capabilities]).map((names) => {
      const queue = requirementQueueOf(taskQueue, names);
      return Worker.create({
        ...common,
        taskQueue: queue,
        tuner: {
          activityTaskSlotSupplier: requirementSlots(ledger, queue, names),
          // Activity-only: the other kinds of task never come to this queue.
          workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
          localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
          nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
        },
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

/**
 * The worker's identity as pollers show it, with the directories it serves and what the machine has:
 * `submit`, `status` and workers handing a run back read them (`<pid>@<machine> serves=/a,/b resources=gpu=1`).
 */
export function workerIdentityOf(machineId: string, machine: MachineResources, servedRoots: readonly string[]): string {
  const resources = formatMachineResources(machine);
  const withResources = resources ? `${IDENTITY_RESOURCES_MARK}${resources}` : '';
  const serves = `${IDENTITY_SERVES_MARK}${servedRoots.map(encodeServedRoot).join(',')}`;
  const full = `${process.pid}@${machineId}${serves}${withResources}`;
  return full.length <= MAX_IDENTITY_LENGTH ? full : `${process.pid}@${machineId}${withResources}`;
}
