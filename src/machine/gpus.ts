/** `--resources gpu=auto`: the GPUs of this machine, as `nvidia-smi -L` lists them (`GPU 0: … (UUID: …)`). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BadInputError } from '../errors.js';
import type { MachineResources } from '../model/requirements.js';
import { GPU, gpuIndices } from '../model/units.js';

const GPU_LINE = /^GPU (\d+):/;
/** nvidia-smi answers in well under a second; one that hangs (a wedged driver) must not hang the worker. */
const LIST_TIMEOUT_MS = 30_000;

/** The device indices `nvidia-smi -L` lists; a clear error when it is not on PATH, fails, or lists none. */
export async function listGpus(): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)('nvidia-smi', ['-L'], { timeout: LIST_TIMEOUT_MS }));
  } catch (err) {
    const why =
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'nvidia-smi is not on PATH'
        : `nvidia-smi -L failed: ${(err as Error).message.split('\n')[0]}`;
    throw new BadInputError(`--resources gpu=auto: ${why}; give the devices instead (gpu=0,1 or gpu=2)`);
  }
  const indices = stdout.split('\n').flatMap((line) => GPU_LINE.exec(line.trim())?.[1] ?? []);
  if (!indices.length) throw new BadInputError('--resources gpu=auto: nvidia-smi -L lists no GPU');
  return indices;
}

/** The resources as given, `gpu=auto` replaced by the GPUs this machine has. */
export async function withGpusFound(resources: MachineResources): Promise<MachineResources> {
  if (!resources.autoGpu) return withGpuIndices(resources);
  const gpus = await listGpus();
  const { counted, capabilities, units } = resources;
  return { counted: { ...counted, [GPU]: gpus.length }, capabilities, units: { ...units, [GPU]: gpus } };
}

/** `gpu=N` as a plain amount: devices 0..N-1 (GPUs are always handed out by index). */
export function withGpuIndices(resources: MachineResources): MachineResources {
  const count = resources.counted[GPU];
  if (count === undefined || resources.units?.[GPU]) return resources;
  return { ...resources, units: { ...resources.units, [GPU]: gpuIndices(count) } };
}
