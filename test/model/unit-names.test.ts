/** A unit resource's variable (`STAGED_<NAME>`) never overwrites one staged sets itself. */
import { parseMachineResources } from '../../src/model/requirements.js';

test("a unit list whose variable is staged's own is refused, naming the variable", () => {
  expect(() => parseMachineResources('attempt=0,1')).toThrow('STAGED_ATTEMPT is staged');
  expect(() => parseMachineResources('results-dir=0,1')).toThrow('STAGED_RESULTS_DIR');
  expect(() => parseMachineResources('param_lr=1..2')).toThrow('STAGED_PARAM_LR');
  expect(() => parseMachineResources('quota=0,1')).toThrow('STAGED_QUOTA');
  expect(() => parseMachineResources('quota_token=0,1')).toThrow('STAGED_QUOTA_TOKEN');
  expect(() => parseMachineResources('gpus=0,1')).toThrow('STAGED_GPUS');
  expect(() => parseMachineResources('task-queue=0,1')).toThrow('STAGED_TASK_QUEUE');
});

test('other unit names, and plain amounts of any name, stay as they were', () => {
  expect(parseMachineResources('gpu=0,1,port=9000..9001').units).toEqual({ gpu: ['0', '1'], port: ['9000', '9001'] });
  expect(parseMachineResources('attempt=2').counted).toEqual({ attempt: 2 }); // an amount sets no variable
  expect(parseMachineResources('params=0,1').units).toEqual({ params: ['0', '1'] });
});
