/** `cancel <batchId> [--experiment X]`: queued experiments never start, running ones are stopped. */
import { cancelBatch, cancelExperiments, withClient } from '../../batch-client/index.js';
import { EXIT, NoWorkerAnswersError } from '../../errors.js';
import type { BatchState } from '../../model/types.js';
import type { OptionsOf } from '../command-table.js';
import { resolveExperiment } from '../experiment-ref.js';
import { commandHint, workerHint } from '../invocation.js';

export async function run([batchId]: string[], options: OptionsOf<'cancel'>): Promise<number> {
  const { experiment } = options;
  return withClient(async (client) => {
    if (experiment === undefined) {
      await cancelBatch(client, batchId);
      console.log(
        `[CANCEL] Batch ${batchId}: queued experiments will not start; running ones are stopped by their workers ` +
          '(at once, or when a worker on their machine is back).',
      );
      return EXIT.ok;
    }
    const pick = (state: BatchState) => [
      state.experiments[resolveExperiment(state.experiments, experiment, batchId)].name,
    ];
    const [name] = await cancelExperiments(client, batchId, pick).catch((err: unknown) => {
      if (!(err instanceof NoWorkerAnswersError)) throw err;
      const hints =
        `start one with: ${err.taskQueue === undefined ? commandHint('worker') : workerHint(err.taskQueue)}; ` +
        `cancelling the whole batch works without one: ${commandHint('cancel', [batchId])}`;
      throw new Error(`${err.message}; ${hints}`);
    });
    console.log(`[CANCEL] ${name} in batch ${batchId}: stopped if running, never started if queued.`);
    return EXIT.ok;
  });
}
