/** `change <batchId> [exp…]`: reprioritise, hold or release queued experiments; change the batch's limits. */
import { changeBatchUpdate, changeExperimentsUpdate } from '../../protocol/messages.js';
import { liveBatch, sendChange, withClient } from '../../batch-client/index.js';
import { BadInputError, EXIT } from '../../errors.js';
import type { BatchChange, ExperimentsChange, SteerAnswer } from '../../model/steering.js';
import { parsePriority } from '../../experiments/select.js';
import type { OptionsOf } from '../command-table.js';
import { batchLine, experimentLines } from '../display/steer.js';
import { resolveExperiment } from '../experiment-ref.js';

export async function run([batchId, ...refs]: string[], options: OptionsOf<'change'>): Promise<number> {
  const { maxConcurrent, maxRetries } = options as { maxConcurrent?: number; maxRetries?: number };
  const priority = options.priority === undefined ? undefined : parsePriority(options.priority);
  if (options.hold && options.release) throw new BadInputError('--hold and --release cannot be given together');
  const hold = options.hold ? true : options.release ? false : undefined;
  const changesExperiments = priority !== undefined || hold !== undefined;
  if (refs.length && !changesExperiments) {
    throw new BadInputError('name what changes for these experiments: --priority, --hold or --release');
  }
  if (changesExperiments && !refs.length) {
    throw new BadInputError('--priority, --hold and --release change experiments: name at least one');
  }
  if (changesExperiments && (maxConcurrent !== undefined || maxRetries !== undefined)) {
    throw new BadInputError(
      'change experiments (--priority, --hold, --release) and the batch (--max-concurrent, --max-retries) in two ' +
        'commands: each is checked and applied whole',
    );
  }
  if (!changesExperiments && maxConcurrent === undefined && maxRetries === undefined) {
    throw new BadInputError(
      'nothing to change: give experiments with --priority, --hold or --release, or --max-concurrent, --max-retries',
    );
  }
  return withClient(async (client) => {
    const live = await liveBatch(client, batchId);
    const printed: string[] = [];
    let answer: SteerAnswer | undefined;
    if (changesExperiments) {
      const names = [
        ...new Set(
          refs.map((ref) => live.state.experiments[resolveExperiment(live.state.experiments, ref, batchId)].name),
        ),
      ];
      const change: ExperimentsChange = { names };
      if (priority !== undefined) change.priority = priority;
      if (hold !== undefined) change.hold = hold;
      answer = await sendChange(live, changeExperimentsUpdate, change);
      printed.push(...experimentLines(hold === true ? 'HOLD' : hold === false ? 'RELEASE' : 'PRIORITY', answer));
    }
    if (maxConcurrent !== undefined || maxRetries !== undefined) {
      const change: BatchChange = {};
      if (maxConcurrent !== undefined) change.maxConcurrent = maxConcurrent;
      if (maxRetries !== undefined) change.maxRetries = maxRetries;
      answer = await sendChange(live, changeBatchUpdate, change);
      printed.push(`[CHANGE] ${batchLine(batchId, answer)}`);
    }
    if (options.json) console.log(JSON.stringify(answer, null, 2));
    else printed.forEach((line) => console.log(line));
    return EXIT.ok;
  });
}
