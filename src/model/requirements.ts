/**
 * Machine resources: what a worker has (`--resources gpu=2,mem=64G,avx512`) and what an experiment
 * needs (`Requires: gpu=2, mem=16G`), and the task queues that route one to the other.
 * Workflow code imports this file, so it must stay free of Node APIs and I/O.
 *
 * A named amount (`gpu=2`, `mem=64G`) is counted: runs on one machine never need more than it has.
 * A bare name on a worker (`avx512`) is a capability: never used up. A bare name in `Requires:` is 1 unit.
 */

import { takeUnitLists, type RunUnits } from './units.js';

/** Amounts by resource name, names lower-cased. */
export type Resources = Record<string, number>;

/** What a worker has: counted amounts, and capabilities that any number of runs may use at once. */
export interface MachineResources {
  counted: Resources;
  capabilities: string[];
  /** The named units of counted resources (model/units.ts), each run its own; absent when none (`gpu=N`: the
   * worker gives devices 0..N-1, machine/gpus.ts). */
  units?: RunUnits;
  /** `gpu=auto`: the worker replaces gpu's count and units with the GPUs it finds (machine/gpus.ts). */
  autoGpu?: boolean;
}

const RESOURCE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const AMOUNT = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i;
const UNIT_POWERS: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4 };
/** Each requirement queue is polled by a worker of every machine that has its names: 2^k - 1 queues for k names. */
const MAX_RESOURCE_NAMES = 4;

/** `2`, `16G`, `512M`, `1.5T`: K/M/G/T are powers of 1024 (an optional `B` or `iB` after them is allowed). */
export function parseAmount(text: string): number {
  const match = AMOUNT.exec(text.trim());
  if (!match) {
    throw new Error(`"${text}" is not an amount: write a whole number, optionally with K, M, G or T (e.g. 2, 16G)`);
  }
  const amount = Number(match[1]) * 1024 ** UNIT_POWERS[match[2].toLowerCase()];
  if (!Number.isSafeInteger(amount) || amount < 1) {
    throw new Error(`"${text}" is not an amount: it must come to a whole number of at least 1`);
  }
  return amount;
}

/** 17179869184 → `16G`; amounts that are not whole K/M/G/T stay as numbers. */
export function formatAmount(amount: number): string {
  for (const unit of ['T', 'G', 'M', 'K']) {
    const size = 1024 ** UNIT_POWERS[unit.toLowerCase()];
    if (amount >= size && amount % size === 0) return `${amount / size}${unit}`;
  }
  return String(amount);
}

interface ResourceEntry {
  name: string;
  amount?: number;
}

/** `gpu=2, mem=16G, avx512`: each entry once; throws a message naming the bad entry. */
function parseEntries(text: string): ResourceEntry[] {
  const entries: ResourceEntry[] = [];
  for (const raw of text.split(',').map((entry) => entry.trim())) {
    const [rawName, ...rest] = raw.split('=');
    const name = rawName.trim().toLowerCase();
    if (!RESOURCE_NAME.test(name)) {
      throw new Error(`"${raw}" is not a resource: write name or name=amount (letters, digits, _ and -)`);
    }
    if (entries.some((entry) => entry.name === name)) throw new Error(`${name} is given twice`);
    if (rest.length > 1) throw new Error(`"${raw}" has more than one "="`);
    entries.push(rest.length ? { name, amount: parseAmount(rest[0]) } : { name });
  }
  return entries;
}

/** A worker's `--resources`: `gpu=2,mem=64G` are counted, a bare `avx512` is a capability. */
export function parseMachineResources(text: string): MachineResources {
  const lists = takeUnitLists(text);
  const entries = withGpuHint(lists.entries, () => parseEntries(lists.entries));
  if (entries.length > MAX_RESOURCE_NAMES) {
    throw new Error(`at most ${MAX_RESOURCE_NAMES} resources (a worker polls one queue per combination of them)`);
  }
  const counted: Resources = {};
  const capabilities: string[] = [];
  for (const { name, amount } of entries) {
    if (amount === undefined) capabilities.push(name);
    else counted[name] = amount;
  }
  const { units } = lists;
  return {
    counted,
    capabilities,
    ...(Object.keys(units).length ? { units } : {}),
    ...(lists.autoGpu ? { autoGpu: true } : {}),
  };
}

/** A worker's `gpu=` that is no amount is most likely meant as devices: say how to write them. */
function withGpuHint<T>(entries: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    const gpu = /(?:^|,)\s*gpu\s*=\s*([^,]*)/i.exec(entries)?.[1]?.trim();
    if (gpu === undefined || !(err as Error).message.startsWith(`"${gpu}" is not an amount: write`)) throw err;
    throw new Error(`gpu=${gpu} is not a count, devices or auto: write gpu=2, gpu=0,1 or gpu=auto`, { cause: err });
  }
}

/** An experiment's `Requires:` value: `gpu` is 1 unit, `gpu=2, mem=16G` are those amounts. */
export function parseRequirements(text: string): Resources {
  return Object.fromEntries(parseEntries(text).map(({ name, amount }) => [name, amount ?? 1]));
}

const REQUIRES_LINE = /^[\s#*-]*requires\s*:\s*(.*?)\s*$/gim;

/** The `Requires:` lines of an experiment's describing text, merged; undefined when none. Throws on a bad one. */
export function requirementsOf(text: string): Resources | undefined {
  let found: Resources | undefined;
  for (const line of text.matchAll(REQUIRES_LINE)) {
    let parsed: Resources;
    try {
      parsed = parseRequirements(line[1]);
    } catch (err) {
      throw new Error(`malformed line "${line[0].trim()}": ${(err as Error).message}`, { cause: err });
    }
    for (const name of Object.keys(parsed)) {
      if (found?.[name] !== undefined) throw new Error(`"${line[0].trim()}": ${name} is required twice`);
    }
    found = { ...found, ...parsed };
  }
  return found;
}

/** `gpu=2, mem=16G`, names sorted. */
export function formatResources(resources: Resources): string {
  return Object.keys(resources)
    .sort()
    .map((name) => `${name}=${formatAmount(resources[name])}`)
    .join(', ');
}

/** `gpu=2,mem=64G,avx512`, as `--resources` takes it. */
export function formatMachineResources({ counted, capabilities }: MachineResources): string {
  return [...Object.keys(counted).map((name) => `${name}=${formatAmount(counted[name])}`), ...capabilities].join(',');
}

/** The queue of runs needing exactly these resource names: `<queue>@needs:gpu+mem`, names sorted. */
export function requirementQueueOf(taskQueue: string, names: readonly string[]): string {
  return `${taskQueue}@needs:${[...names].sort().join('+')}`;
}

/** The queue only the workers of one machine poll: adopting the runs that live there. */
export function machineQueueOf(taskQueue: string, machineId: string): string {
  return `${taskQueue}@${machineId}`;
}

/** The queue only one worker process polls (`<pid>@<machine id>`): runs handed back to it by another. */
export function workerQueueOf(taskQueue: string, identity: string): string {
  return `${taskQueue}@worker:${identity.split(' ')[0]}`;
}

/** Where an experiment's run activity is scheduled: the task queue itself when it requires nothing. */
export function runQueueOf(taskQueue: string, requires: Resources | undefined): string {
  const names = Object.keys(requires ?? {});
  return names.length ? requirementQueueOf(taskQueue, names) : taskQueue;
}

/** Every non-empty subset of `names`, each sorted: the requirement queues a machine with these names polls. */
export function nonEmptySubsets(names: readonly string[]): string[][] {
  const sorted = [...names].sort();
  const subsets: string[][] = [];
  for (let mask = 1; mask < 1 << sorted.length; mask++) {
    subsets.push(sorted.filter((_, bit) => mask & (1 << bit)));
  }
  return subsets;
}

/** What `requires` asks beyond what `machine` has, e.g. `gpu=2 (has 1)`; empty when the machine can run it. */
export function shortfallOf(requires: Resources, machine: MachineResources): string[] {
  return Object.keys(requires)
    .sort()
    .flatMap((name) => {
      if (machine.capabilities.includes(name)) return [];
      const has = machine.counted[name];
      if (has === undefined) return [`${name}`];
      return requires[name] > has ? [`${name}=${formatAmount(requires[name])} (has ${formatAmount(has)})`] : [];
    });
}

/** Between a worker's pid@machine and its resources in its identity, as task queue pollers show it. */
export const IDENTITY_RESOURCES_MARK = ' resources=';

/** What a poller's identity says its machine has; undefined when it declares nothing (or cannot be read). */
export function resourcesInIdentity(identity: string): MachineResources | undefined {
  const at = identity.lastIndexOf(IDENTITY_RESOURCES_MARK);
  if (at < 0) return undefined;
  try {
    return parseMachineResources(identity.slice(at + IDENTITY_RESOURCES_MARK.length));
  } catch {
    return undefined;
  }
}

/** Before the directories a worker serves in its identity (`--allow-dir`, real paths; `%`, `,`, spaces %-encoded). */
export const IDENTITY_SERVES_MARK = ' serves=';

/** The directories a poller's identity says its worker serves; undefined when it does not say (an older worker). */
export function servedRootsInIdentity(identity: string): string[] | undefined {
  const at = identity.indexOf(IDENTITY_SERVES_MARK);
  if (at < 0) return undefined;
  const field = identity.slice(at + IDENTITY_SERVES_MARK.length).split(' ')[0];
  try {
    return field ? field.split(',').map(decodeURIComponent) : [];
  } catch {
    return undefined;
  }
}

/** After a worker's pid@machine in its identity: its `--slots`, and a digest naming the runs directory it counts. */
export const IDENTITY_SLOTS_MARK = 'slots=';
export const IDENTITY_RUNS_MARK = 'runs=';

/** What a poller's identity says of the worker's slots and runs directory; absent fields for an older worker. */
export function slotsInIdentity(identity: string): { slots?: number; runs?: string } {
  const words = identity.split(' ').slice(1); // served directories have their spaces %-encoded
  const valueOf = (mark: string) => words.find((word) => word.startsWith(mark))?.slice(mark.length);
  const slots = Number(valueOf(IDENTITY_SLOTS_MARK));
  const runs = valueOf(IDENTITY_RUNS_MARK);
  return { ...(Number.isInteger(slots) && slots > 0 ? { slots } : {}), ...(runs ? { runs } : {}) };
}
