/**
 * `pause <batchId>`: the batch starts nothing new; running experiments run on.
 * `pause <batchId> <exp>…`: those running experiments' runs are frozen where they are, their --timeout clock stopped.
 */
import { changeBatchUpdate, pauseExperimentsUpdate } from '../../protocol/messages.js';
import { liveBatch, sendChange, withClient } from '../../batch-client/index.js';
import { EXIT } from '../../errors.js';
import type { OptionsOf } from '../command-table.js';
import { batchLine, runPauseLines } from '../display/steer.js';
import { commandHint } from '../invocation.js';
import { resolveExperiment } from '../experiment-ref.js';

export async function run([batchId, ...refs]: string[], options: OptionsOf<'pause'>): Promise<number> {
  return withClient(async (client) => {
    const live = await liveBatch(client, batchId);
    if (refs.length) {
      const names = [
        ...new Set(
          refs.map((ref) => live.state.experiments[resolveExperiment(live.state.experiments, ref, batchId)].name),
        ),
      ];
      const answer = await sendChange(live, pauseExperimentsUpdate, { names, paused: true });
      if (options.json) console.log(JSON.stringify(answer, null, 2));
      else {
        runPauseLines(true, answer).forEach((line) => console.log(line));
        console.log(`        Undo: ${commandHint('resume', [batchId, ...names])}`);
      }
      return EXIT.ok;
    }
    const answer = await sendChange(live, changeBatchUpdate, { paused: true });
    if (options.json) console.log(JSON.stringify(answer, null, 2));
    else {
      console.log(`[PAUSE] ${batchLine(batchId, answer)}`);
      console.log(`        Nothing new starts; running experiments run on. Undo: ${commandHint('resume', [batchId])}`);
    }
    return EXIT.ok;
  });
}
