/** A run its worker is stopping (cancel, `--on-shutdown stop`), as status shows it from the worker's heartbeats. */
import { liveBatchView } from '../../../src/cli/display/batch-view.js';
import { statusLines } from '../../../src/cli/display/render.js';
import { newBatchState } from '../../../src/model/batch-state.js';
import type { BatchSettings, ExperimentSpec, RunHeartbeat, RunStopHeartbeat } from '../../../src/model/types.js';

const S = 1_000;

function lineAt(now: number, stop: RunStopHeartbeat): string | undefined {
  const experiments: ExperimentSpec[] = [{ id: 'a', name: 'a', file: 'a', priority: 'high' }];
  const state = newBatchState('b', experiments, { maxConcurrent: 1 } as BatchSettings, 0);
  state.records[0] = { status: 'running', attempts: 1, exitCode: null, startedAt: 0 };
  const runs = new Map<number, RunHeartbeat>([[0, { host: '', startedAt: 0, heardAt: now - S, stop }]]);
  return statusLines(liveBatchView(state, 'running', runs, now)).find((line) => line.startsWith('    - a'));
}

test('stopping: within the kill grace, past it with no end recorded, and once its worker killed the keeper', () => {
  const stop: RunStopHeartbeat = { reason: 'cancelled', askedAt: 60 * S, killGraceMs: 10 * S };
  expect(lineAt(63 * S, stop)).toBe('    - a (1.1min, attempt 1, stopping (cancelled) for 3.0s, kill grace 10.0s)');
  expect(lineAt(72 * S, stop)).toBe(
    '    - a (1.2min, attempt 1, stopping (cancelled) for 12.0s: its keeper has not answered within its kill grace ' +
      '(10.0s); its worker kills it at 20.0s)',
  );
  expect(lineAt(81 * S, { ...stop, reason: 'shutdown', keeperKilledAt: 80 * S })).toBe(
    '    - a (1.4min, attempt 1, stopping (shutdown) for 21.0s: its keeper did not answer, so its worker killed it; ' +
      'its guard stops the run)',
  );
});
