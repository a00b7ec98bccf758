/** `cancel <batchId> [--experiment X]`: queued experiments never start, running ones are stopped. */
import { cancelBatch, cancelExperiments, withClient } from '../../batch-client/index.js';
import { EXIT, NoWorkerAnswersError } from '../../errors.js';
import { isFinal } from '../../model/batch-state.js';
import { isUnstarted } from '../../model/start-order.js';
import type { BatchState } from '../../model/types.js';
import { formatDuration } from '../../parse/duration.js';
import type { OptionsOf } from '../command-table.js';
import { resolveExperiment } from '../experiment-ref.js';
import { commandHint, workerHint } from '../invocation.js';

export async function run([batchId]: string[], options: OptionsOf<'cancel'>): Promise<number> {
  const { experiment } = options;
  return withClient(async (client) => {
    if (experiment === undefined) {
      await cancelBatch(client, batchId);
      console.log(
        `[CANCEL] Batch ${batchId}: queued experiments will not start; running ones are asked to stop by their ` +
          'workers (at once, or when a worker on their machine is back), each with its kill grace before SIGKILL.',
      );
      return EXIT.ok;
    }
    let said = '';
    const pick = (state: BatchState) => {
      const index = resolveExperiment(state.experiments, experiment, batchId);
      said = whatCancelDoes(state, index);
      return [state.experiments[index].name];
    };
    const [name] = await cancelExperiments(client, batchId, pick).catch((err: unknown) => {
      if (!(err instanceof NoWorkerAnswersError)) throw err;
      const hints =
        `start one with: ${err.taskQueue === undefined ? commandHint('worker') : workerHint(err.taskQueue)}; ` +
        `cancelling the whole batch works without one: ${commandHint('cancel', [batchId])}`;
      throw new Error(`${err.message}; ${hints}`);
    });
    console.log(`[CANCEL] ${name} in batch ${batchId}: ${said}.`);
    return EXIT.ok;
  });
}

/** What the cancel of an experiment does, as the batch workflow decides it; it returns at once, before a run stops. */
function whatCancelDoes(state: BatchState, index: number): string {
  const { status } = state.records[index];
  if (isFinal(status)) return `already ${status}, nothing to cancel`;
  if (isUnstarted(state, index)) return `${status}, not started: it never will`;
  const grace = formatDuration(state.settings.killGraceMs);
  return (
    `its run, if it has one, is asked to stop (SIGTERM, then SIGKILL after its kill grace of ${grace}), ` +
    'and no other starts; status shows it stopping until it has'
  );
}
