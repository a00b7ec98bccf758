/**
 * `resume <batchId>`: a paused batch starts its queued experiments again.
 * `resume <batchId> <exp>…`: those paused experiments' runs are thawed and go on where they stopped.
 */
import { changeBatchUpdate, pauseExperimentsUpdate } from '../../protocol/messages.js';
import { liveBatch, sendChange, withClient } from '../../batch-client/index.js';
import { EXIT } from '../../errors.js';
import type { OptionsOf } from '../command-table.js';
import { batchLine, runPauseLines } from '../display/steer.js';
import { resolveExperiment } from '../experiment-ref.js';

export async function run([batchId, ...refs]: string[], options: OptionsOf<'resume'>): Promise<number> {
  return withClient(async (client) => {
    const live = await liveBatch(client, batchId);
    if (refs.length) {
      const names = [
        ...new Set(
          refs.map((ref) => live.state.experiments[resolveExperiment(live.state.experiments, ref, batchId)].name),
        ),
      ];
      const answer = await sendChange(live, pauseExperimentsUpdate, { names, paused: false });
      if (options.json) console.log(JSON.stringify(answer, null, 2));
      else runPauseLines(false, answer).forEach((line) => console.log(line));
      return EXIT.ok;
    }
    const answer = await sendChange(live, changeBatchUpdate, { paused: false });
    if (options.json) console.log(JSON.stringify(answer, null, 2));
    else console.log(`[RESUME] ${batchLine(batchId, answer)}`);
    return EXIT.ok;
  });
}
