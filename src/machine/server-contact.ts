/**
 * When this worker last reached the Temporal server. A run's lease is renewed only as of that
 * moment, so a machine cut off from the server stops its runs once the adoption window has passed,
 * before the server lets another machine start them again (fencing; see docs/reliability.md).
 */
import type { NativeConnection } from '@temporalio/worker';

const PROBE_EVERY_MS = 1_000;
const PROBE_DEADLINE_MS = 2_000;

export interface ServerContact {
  /** Epoch ms of the last answer from the server. */
  lastContactAt(): number;
  /** The server answered a call of this worker sent at `askedAt` (not only a probe: a heartbeat too). */
  heard(askedAt: number): void;
  stop(): void;
}

export function watchServerContact(connection: NativeConnection): ServerContact {
  let last = Date.now();
  let stopped = false;
  const probe = async () => {
    while (!stopped) {
      const asked = Date.now();
      try {
        await connection.withDeadline(asked + PROBE_DEADLINE_MS, () => connection.workflowService.getSystemInfo({}));
        last = Math.max(last, asked);
      } catch {
        // unreachable: the lease is not renewed past `last`
      }
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS).unref());
    }
  };
  void probe();
  return {
    lastContactAt: () => last,
    heard: (askedAt) => {
      last = Math.max(last, askedAt);
    },
    stop: () => {
      stopped = true;
    },
  };
}
