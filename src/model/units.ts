/**
 * Named units of a counted resource: `--resources gpu=0,1,2,3` (GPU indices), `port=9000..9003` (a range),
 * `gpu=auto` (the GPUs `nvidia-smi -L` lists, read by the worker). Each run gets units of its own, so two runs
 * never share a device or a port. A plain amount (`mem=64G`) keeps its meaning, except `gpu=N`: devices 0..N-1.
 * Pure: workflow code and the CLI may import it.
 */

/** Units by resource name, in the order the worker gave them. */
export type RunUnits = Record<string, string[]>;

/** The resource whose units are device indices: runs see theirs as `CUDA_VISIBLE_DEVICES`. */
export const GPU = 'gpu';
/** `gpu=auto`: the worker lists the machine's GPUs when it starts. */
export const AUTO = 'auto';

const UNIT = /^[a-z0-9][a-z0-9_:-]{0,63}$/i;
const RANGE = /^(\d{1,9})\.\.(\d{1,9})$/;
/** A token after a unit list's first that continues it: a unit, never a resource name (which starts with a letter). */
const CONTINUATION = /^\d[a-z0-9_:-]*$/i;
/** A machine lists its units one by one in claim files: far more than any machine has of anything. */
export const MAX_UNITS = 1024;

/** The `--resources` text with its unit lists taken out (each replaced by `name=<count>`), and those lists. */
export interface UnitLists {
  /** What `parseEntries` reads: plain entries, and `name=<count>` for each unit list. */
  entries: string;
  units: RunUnits;
  /** `gpu=auto` was given: its count stands as 1 until the worker lists the GPUs. */
  autoGpu: boolean;
}

/** Takes the unit lists out of `--resources`: `gpu=0,1`, `port=9000..9003`, `port=9000,9005`, `gpu=auto`. */
export function takeUnitLists(text: string): UnitLists {
  const tokens = text.split(',').map((token) => token.trim());
  const entries: string[] = [];
  const units: RunUnits = {};
  let autoGpu = false;
  for (let at = 0; at < tokens.length; at++) {
    const [name, value, ...rest] = tokens[at].split('=');
    const key = name.trim().toLowerCase();
    const continued: string[] = [];
    while (at + 1 < tokens.length && CONTINUATION.test(tokens[at + 1])) continued.push(tokens[++at]);
    if (value === undefined || rest.length) {
      entries.push(tokens[at - continued.length], ...continued); // not a unit list: parseEntries says what is wrong
      continue;
    }
    if (value.trim().toLowerCase() === AUTO) {
      if (key !== GPU) throw new Error(`${key}=auto: only gpu=auto is read from the machine (nvidia-smi -L)`);
      if (continued.length) throw new Error(`gpu=auto takes no list after it (${continued.join(',')})`);
      autoGpu = true;
      units[key] = [];
      entries.push(`${key}=1`);
    } else if (continued.length || RANGE.test(value.trim())) {
      refuseStagedVariable(key);
      units[key] = unitsOf(key, [value, ...continued]);
      entries.push(`${key}=${units[key].length}`);
    } else {
      entries.push(tokens[at]);
    }
  }
  return { entries: entries.join(','), units, autoGpu };
}

/** `0..3` → 0,1,2,3; each unit once; throws a message naming the bad one. */
function unitsOf(name: string, tokens: string[]): string[] {
  const units: string[] = [];
  for (const token of tokens.map((text) => text.trim())) {
    const range = RANGE.exec(token);
    if (range) {
      const [first, last] = [Number(range[1]), Number(range[2])];
      if (first > last) throw new Error(`${name}=${token}: a range goes up (${last}..${first}?)`);
      if (last - first + 1 > MAX_UNITS) throw new Error(`${name}=${token}: more than ${MAX_UNITS} units`);
      for (let unit = first; unit <= last; unit++) units.push(String(unit));
    } else if (UNIT.test(token)) {
      units.push(token);
    } else {
      throw new Error(`"${token}" is not a unit of ${name}: write indices (0,1,2), a range (9000..9003) or names`);
    }
  }
  const twice = units.find((unit, index) => units.indexOf(unit) !== index);
  if (twice !== undefined) throw new Error(`${name} lists unit ${twice} twice`);
  if (units.length > MAX_UNITS) throw new Error(`${name}: more than ${MAX_UNITS} units`);
  return units;
}

/** `gpu=N` as a plain amount means devices 0..N-1: every GPU machine hands out device indices. */
export function gpuIndices(count: number): string[] {
  if (count > MAX_UNITS) throw new Error(`gpu=${count}: more than ${MAX_UNITS} devices`);
  return Array.from({ length: count }, (_, index) => String(index));
}

/** `gpu 2,3; port 9001`: what `status` shows of a run's units. */
export function formatUnits(units: RunUnits): string {
  return Object.keys(units)
    .sort()
    .map((name) => `${name} ${units[name].join(',')}`)
    .join('; ');
}

/**
 * The variables staged itself sets for a run, its hooks and its worker, and the prefixes of its families: a unit
 * resource whose `STAGED_<NAME>` is one of them would overwrite it (`attempt=0,1` → STAGED_ATTEMPT).
 */
export const STAGED_VARIABLES: readonly string[] = [
  'STAGED_ATTEMPT',
  'STAGED_BATCH_ID',
  'STAGED_CHECKPOINT_DIR',
  'STAGED_CODE_DIR',
  'STAGED_COUNTS',
  'STAGED_DEBUG',
  'STAGED_EVENT',
  'STAGED_EXIT_CODE',
  'STAGED_EXPERIMENT',
  'STAGED_EXPERIMENTS_DIR',
  'STAGED_GPUS',
  'STAGED_KILL_MODE',
  'STAGED_LOG',
  'STAGED_LOG_LEVEL',
  'STAGED_MACHINE_ID',
  'STAGED_METRICS',
  'STAGED_NOTIFY_ID',
  'STAGED_PYTHON',
  'STAGED_RESULTS_DIR',
  'STAGED_RETENTION',
  'STAGED_RUN_ID',
  'STAGED_RUNS_DIR',
  'STAGED_SEARCH_ATTRIBUTES',
  'STAGED_STATUS',
  'STAGED_TASK_QUEUE',
  'STAGED_WARN_SIGNAL',
  'STAGED_WEB_UI',
];
export const STAGED_VARIABLE_PREFIXES: readonly string[] = ['STAGED_PARAM_', 'STAGED_QUOTA_'];

function refuseStagedVariable(name: string): void {
  const variable = unitVariableOf(name);
  const taken =
    STAGED_VARIABLES.includes(variable) || STAGED_VARIABLE_PREFIXES.some((prefix) => `${variable}_`.startsWith(prefix));
  if (taken) throw new Error(`${name}: a unit resource's variable ${variable} is staged's own; name it otherwise`);
}

/** `STAGED_PORT` for `port`: upper-cased, anything but letters and digits as `_`. */
export function unitVariableOf(name: string): string {
  return `STAGED_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * The variables a run sees of its units: `STAGED_<NAME>` for each (comma-separated), and for GPUs
 * `CUDA_VISIBLE_DEVICES` and `STAGED_GPUS`. On a machine with GPU units, a run that holds none sees no device.
 */
export function unitsEnvironment(
  units: RunUnits | undefined,
  machineUnits: RunUnits | undefined,
): Record<string, string> {
  const environment: Record<string, string> = {};
  if (machineUnits?.[GPU]) environment.CUDA_VISIBLE_DEVICES = '';
  for (const [name, held] of Object.entries(units ?? {})) {
    const list = held.join(',');
    environment[unitVariableOf(name)] = list;
    if (name === GPU) Object.assign(environment, { CUDA_VISIBLE_DEVICES: list, STAGED_GPUS: list });
  }
  return environment;
}
