/** The GPUs a worker hands out stay within its own CUDA_VISIBLE_DEVICES. */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { withGpuIndices, withGpusFound } from '../../src/machine/gpus.js';
import { parseMachineResources } from '../../src/model/requirements.js';
import { tempDir } from '../helpers/scripts.js';

const units = (resources: string, env: NodeJS.ProcessEnv) =>
  withGpuIndices(parseMachineResources(resources), env).units;

test("gpu=N hands out the first N entries of the worker's CUDA_VISIBLE_DEVICES, or 0..N-1 without it", () => {
  expect(units('gpu=2', { CUDA_VISIBLE_DEVICES: '2,3' })).toEqual({ gpu: ['2', '3'] });
  expect(units('gpu=1', { CUDA_VISIBLE_DEVICES: 'GPU-abc, 5' })).toEqual({ gpu: ['GPU-abc'] });
  expect(units('gpu=2', {})).toEqual({ gpu: ['0', '1'] });
  expect(() => units('gpu=3', { CUDA_VISIBLE_DEVICES: '2,3' })).toThrow('CUDA_VISIBLE_DEVICES lists 2 (2,3)');
  expect(() => units('gpu=1', { CUDA_VISIBLE_DEVICES: '' })).toThrow('lists 0 (none)');
});

test("explicit devices must be in the worker's CUDA_VISIBLE_DEVICES when it is set", () => {
  expect(units('gpu=2,3', { CUDA_VISIBLE_DEVICES: '2,3' })).toEqual({ gpu: ['2', '3'] });
  expect(units('gpu=0,1', {})).toEqual({ gpu: ['0', '1'] });
  expect(() => units('gpu=0,1', { CUDA_VISIBLE_DEVICES: '2,3' })).toThrow(
    "gpu=0,1: 0,1 not in this worker's CUDA_VISIBLE_DEVICES (2,3)",
  );
  expect(() => units('gpu=2', { CUDA_VISIBLE_DEVICES: '2,a/b' })).toThrow('"a/b" is not a device index or UUID');
});

test("gpu=auto is narrowed to the worker's CUDA_VISIBLE_DEVICES (indices or UUIDs)", async () => {
  const bin = await tempDir('gpus-smi');
  const listing = [0, 1, 2, 3].map((index) => `GPU ${index}: Fake GPU (UUID: GPU-fake-${index})`).join('\\n');
  await writeFile(path.join(bin, 'nvidia-smi'), `#!/bin/sh\nprintf '${listing}\\n'\n`);
  await chmod(path.join(bin, 'nvidia-smi'), 0o755);
  const PATH = `${bin}:${process.env.PATH}`;
  const auto = parseMachineResources('gpu=auto');
  expect((await withGpusFound(auto, { PATH })).units).toEqual({ gpu: ['0', '1', '2', '3'] });
  const narrowed = await withGpusFound(auto, { PATH, CUDA_VISIBLE_DEVICES: '3,1' });
  expect([narrowed.units, narrowed.counted]).toEqual([{ gpu: ['3', '1'] }, { gpu: 2 }]);
  const byUuid = await withGpusFound(auto, { PATH, CUDA_VISIBLE_DEVICES: 'GPU-fake-2' });
  expect(byUuid.units).toEqual({ gpu: ['GPU-fake-2'] });
  await expect(withGpusFound(auto, { PATH, CUDA_VISIBLE_DEVICES: '7' })).rejects.toThrow('names none of the GPUs');
});

test('gpu=auto whose nvidia-smi fails says what nvidia-smi said; gpu=abc says how to write devices', async () => {
  const bin = await tempDir('gpus-smi-fails');
  const said = 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.';
  await writeFile(path.join(bin, 'nvidia-smi'), `#!/bin/sh\necho '${said}'\nexit 9\n`);
  await chmod(path.join(bin, 'nvidia-smi'), 0o755);
  await expect(
    withGpusFound(parseMachineResources('gpu=auto'), { PATH: `${bin}:${process.env.PATH}` }),
  ).rejects.toThrow(`nvidia-smi -L failed: ${said}`);
  expect(() => parseMachineResources('gpu=abc')).toThrow('gpu=abc is not a count, devices or auto: write gpu=2');
});
