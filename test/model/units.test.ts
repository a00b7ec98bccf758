import { parseMachineResources, resourcesInIdentity } from '../../src/model/requirements.js';
import { formatUnits, unitsEnvironment, unitVariableOf } from '../../src/model/units.js';
import { withGpuIndices } from '../../src/machine/gpus.js';
import { workerIdentityOf } from '../../src/worker/worker-queues.js';

test('--resources takes unit lists: indices, ranges, explicit lists; gpu=N is devices 0..N-1', () => {
  expect(parseMachineResources('gpu=0,1,2,3')).toEqual({
    counted: { gpu: 4 },
    capabilities: [],
    units: { gpu: ['0', '1', '2', '3'] },
  });
  expect(withGpuIndices(parseMachineResources('gpu=4'))).toEqual(parseMachineResources('gpu=0..3'));
  expect(withGpuIndices(parseMachineResources('gpu=2,3'))).toEqual(parseMachineResources('gpu=2,3'));
  expect(parseMachineResources('port=9000..9003,mem=64G,avx512')).toEqual({
    counted: { port: 4, mem: 64 * 1024 ** 3 },
    capabilities: ['avx512'],
    units: { port: ['9000', '9001', '9002', '9003'] },
  });
  expect(parseMachineResources('port=9000,9005, gpu=2,3')).toEqual({
    counted: { port: 2, gpu: 2 },
    capabilities: [],
    units: { port: ['9000', '9005'], gpu: ['2', '3'] },
  });
  expect(parseMachineResources('gpu=5..5').units).toEqual({ gpu: ['5'] });
});

test('a plain amount keeps its meaning: no units, except gpu', () => {
  expect(withGpuIndices(parseMachineResources('mem=64G,port=9000'))).toEqual({
    counted: { mem: 64 * 1024 ** 3, port: 9000 },
    capabilities: [],
  });
  expect(parseMachineResources('avx512')).toEqual({ counted: {}, capabilities: ['avx512'] });
});

test('gpu=auto waits for the worker to list the GPUs; auto is only for gpu', () => {
  expect(parseMachineResources('gpu=auto,mem=8G')).toEqual({
    counted: { gpu: 1, mem: 8 * 1024 ** 3 },
    capabilities: [],
    units: { gpu: [] },
    autoGpu: true,
  });
  expect(() => parseMachineResources('port=auto')).toThrow('only gpu=auto');
});

test('a bad unit list is refused, naming what is wrong', () => {
  expect(() => parseMachineResources('gpu=3..1')).toThrow('a range goes up');
  expect(() => parseMachineResources('gpu=0,1,1')).toThrow('gpu lists unit 1 twice');
  expect(() => parseMachineResources('port=1..100000')).toThrow('more than 1024 units');
  expect(() => parseMachineResources('gpu=0,1,gpu=2')).toThrow('gpu is given twice');
  expect(() => parseMachineResources('gpu=0')).toThrow('"0" is not an amount');
  expect(() => parseMachineResources('gpu=0,1/2')).toThrow();
});

test("a worker's identity still carries amounts, which status and submit read", () => {
  const machine = parseMachineResources('gpu=2,3,port=9000..9001');
  const identity = workerIdentityOf('box', machine, ['/x']);
  expect(identity).toMatch(/ resources=gpu=2,port=2$/);
  expect(resourcesInIdentity(identity)?.counted).toEqual({ gpu: 2, port: 2 });
});

test("a run's environment: STAGED_<NAME> per resource; GPUs as CUDA_VISIBLE_DEVICES and STAGED_GPUS", () => {
  expect(unitsEnvironment({ gpu: ['2', '3'], 'tcp-port': ['9001'] }, { gpu: ['0', '1', '2', '3'] })).toEqual({
    CUDA_VISIBLE_DEVICES: '2,3',
    STAGED_GPUS: '2,3',
    STAGED_GPU: '2,3',
    STAGED_TCP_PORT: '9001',
  });
  // a run needing no GPU on a GPU machine sees none, rather than all of them
  expect(unitsEnvironment(undefined, { gpu: ['0'] })).toEqual({ CUDA_VISIBLE_DEVICES: '' });
  expect(unitsEnvironment(undefined, undefined)).toEqual({});
  expect(unitVariableOf('port')).toBe('STAGED_PORT');
  expect(formatUnits({ port: ['9000'], gpu: ['2', '3'] })).toBe('gpu 2,3; port 9000');
});
