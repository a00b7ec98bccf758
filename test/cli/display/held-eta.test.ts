/** A batch whose experiments left are all held waits for their release, not for a time: status gives no ETA. */
import { liveBatchView } from '../../../src/cli/display/batch-view.js';
import { newBatchState } from '../../../src/model/batch-state.js';
import type { BatchSettings, ExperimentSpec } from '../../../src/model/types.js';

const MIN = 60_000;

function viewWithSecond(status: 'held' | 'queued') {
  const experiments: ExperimentSpec[] = ['a', 'b'].map((name) => ({ id: name, name, file: name, priority: 'high' }));
  const state = newBatchState('b', experiments, { maxConcurrent: 1 } as BatchSettings, 0);
  state.records[0] = { status: 'completed', attempts: 1, exitCode: 0, startedAt: 0, closedAt: 3 * MIN };
  state.records[1] = { ...state.records[1], status };
  return liveBatchView(state, 'running', new Map(), 4 * MIN);
}

test('only held experiments left: no ETA; a queued one left: the ETA of a run as long as the ended one', () => {
  expect(viewWithSecond('held').eta).toBeNull(); // was 3 min, for a batch that waits until a release
  expect(viewWithSecond('queued').eta?.seconds).toBe(180);
});
