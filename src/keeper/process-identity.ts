/**
 * A process told apart from any later one that reuses its pid: its start time in clock ticks since boot
 * (`/proc/<pid>/stat`, field 22) and the boot's id. A keeper records its own in `state.json`, so a worker
 * recognises it whatever directory either of them was installed in.
 */
import { readFileSync } from 'node:fs';
import type { ProcessIdentity } from './run-files.js';

let bootIdOfThisBoot: string | undefined;

function bootId(): string {
  bootIdOfThisBoot ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return bootIdOfThisBoot;
}

/** The fields of `/proc/<pid>/stat` from its state on (field 3), or undefined when there is no such process. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Who `pid` is now, or undefined when no process has it. */
export function processIdentityOf(pid: number): ProcessIdentity | undefined {
  const fields = statFields(pid);
  return fields && { pid, startTicks: Number(fields[19]), bootId: bootId() };
}

let own: ProcessIdentity | undefined;

/** This process's identity: it never changes, so /proc is read once, not at each run it starts or holds. */
export function ownProcessIdentity(): ProcessIdentity | undefined {
  return (own ??= processIdentityOf(process.pid));
}

/** True while the very process `identity` recorded lives (not a zombie, not another process with its pid). */
export function stillRunning(identity: ProcessIdentity): boolean {
  const fields = statFields(identity.pid);
  if (!fields || fields[0] === 'Z') return false;
  return Number(fields[19]) === identity.startTicks && bootId() === identity.bootId;
}
