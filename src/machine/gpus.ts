/**
 * The GPUs a worker hands out: `gpu=auto` (those `nvidia-smi -L` lists), `gpu=N`, or `gpu=0,1`, all within the
 * worker's own `CUDA_VISIBLE_DEVICES` when it is set (device i of `gpu=N` is then the list's i-th entry).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BadInputError } from '../errors.js';
import type { MachineResources } from '../model/requirements.js';
import { GPU, gpuIndices } from '../model/units.js';

const GPU_LINE = /^GPU (\d+):.*\(UUID: ([^)\s]+)\)/;
const INDEX_LINE = /^GPU (\d+):/;
/** nvidia-smi answers in well under a second; one that hangs (a wedged driver) must not hang the worker. */
const LIST_TIMEOUT_MS = 30_000;
/** What a claim file's name may hold (machine/units.ts): indices and UUIDs are. */
const DEVICE = /^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$/;
const VISIBLE = 'CUDA_VISIBLE_DEVICES';

interface ListedGpu {
  index: string;
  uuid?: string;
}

/** The device indices `nvidia-smi -L` lists; a clear error when it is not on PATH, fails, or lists none. */
export async function listGpus(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  return (await listedGpus(env)).map((gpu) => gpu.index);
}

async function listedGpus(env: NodeJS.ProcessEnv): Promise<ListedGpu[]> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('nvidia-smi', ['-L'], { timeout: LIST_TIMEOUT_MS, env }));
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'nvidia-smi is not on PATH'
        : `nvidia-smi -L failed: ${whyFailed(err)}`;
    throw new BadInputError(`--resources gpu=auto: ${why}; give the devices instead (gpu=0,1 or gpu=2)`);
  }
  const gpus = stdout.split('\n').flatMap((line): ListedGpu[] => {
    const withUuid = GPU_LINE.exec(line.trim());
    if (withUuid) return [{ index: withUuid[1], uuid: withUuid[2] }];
    const index = INDEX_LINE.exec(line.trim())?.[1];
    return index === undefined ? [] : [{ index }];
  });
  if (!gpus.length) throw new BadInputError('--resources gpu=auto: nvidia-smi -L lists no GPU');
  return gpus;
}

/** The worker's own `CUDA_VISIBLE_DEVICES` as a list (indices or UUIDs); undefined when it is not set. */
export function visibleDevicesOf(env: NodeJS.ProcessEnv): string[] | undefined {
  const value = env[VISIBLE];
  if (value === undefined) return undefined;
  const devices = value
    .split(',')
    .map((device) => device.trim())
    .filter(Boolean);
  const bad = devices.find((device) => !DEVICE.test(device));
  if (bad !== undefined) throw new BadInputError(`${VISIBLE}=${value}: "${bad}" is not a device index or UUID`);
  return devices;
}

/** The resources as given, `gpu=auto` replaced by the GPUs this machine has (those the worker may see). */
export async function withGpusFound(
  resources: MachineResources,
  env: NodeJS.ProcessEnv = process.env,
): Promise<MachineResources> {
  if (!resources.autoGpu) return withGpuIndices(resources, env);
  const listed = await listedGpus(env);
  const visible = visibleDevicesOf(env);
  const gpus = visible ? visible.filter((device) => listed.some((gpu) => isDevice(gpu, device))) : listed.map(toIndex);
  if (!gpus.length) {
    throw new BadInputError(`--resources gpu=auto: ${VISIBLE}=${env[VISIBLE]} names none of the GPUs nvidia-smi lists`);
  }
  const { counted, capabilities, units } = resources;
  return { counted: { ...counted, [GPU]: gpus.length }, capabilities, units: { ...units, [GPU]: gpus } };
}

const toIndex = (gpu: ListedGpu) => gpu.index;

/** A `CUDA_VISIBLE_DEVICES` entry names a GPU by its index, or by its UUID or a prefix of it (as CUDA reads it). */
function isDevice(gpu: ListedGpu, device: string): boolean {
  return device === gpu.index || (gpu.uuid !== undefined && /^(GPU|MIG)-./.test(device) && gpu.uuid.startsWith(device));
}

/**
 * `gpu=N` as a plain amount: devices 0..N-1, or the first N of the worker's `CUDA_VISIBLE_DEVICES`; `gpu=0,1` as
 * given, each of them in that list when it is set (a device the worker cannot see is a mistake, not a GPU).
 */
export function withGpuIndices(resources: MachineResources, env: NodeJS.ProcessEnv = process.env): MachineResources {
  const count = resources.counted[GPU];
  if (count === undefined) return resources;
  const visible = visibleDevicesOf(env);
  const given = resources.units?.[GPU];
  if (given) {
    const unseen = visible && given.filter((device) => !visible.includes(device));
    if (unseen?.length) {
      throw new BadInputError(
        `--resources gpu=${given.join(',')}: ${unseen.join(',')} not in this worker's ${VISIBLE} ` +
          `(${visible!.join(',') || 'empty'}); give gpu=${Math.min(given.length, visible!.length)} ` +
          `(the first of that list) or devices from it`,
      );
    }
    return resources;
  }
  if (visible && count > visible.length) {
    throw new BadInputError(
      `--resources gpu=${count}: this worker's ${VISIBLE} lists ${visible.length} (${visible.join(',') || 'none'})`,
    );
  }
  const devices = visible ? visible.slice(0, count) : gpuIndices(count);
  return { ...resources, units: { ...resources.units, [GPU]: devices } };
}

/** What nvidia-smi itself said ("could not communicate with the NVIDIA driver"), else how it ended. */
function whyFailed(err: unknown): string {
  const { stderr, stdout } = err as { stderr?: string; stdout?: string };
  const said = (typeof stderr === 'string' && stderr.trim()) || (typeof stdout === 'string' && stdout.trim());
  return (said || (err as Error).message).split('\n')[0];
}
