/** `pause <batchId>`: the batch starts nothing new; running experiments run on. */
import { changeBatchUpdate } from '../../protocol/messages.js';
import { liveBatch, sendChange, withClient } from '../../batch-client/index.js';
import { EXIT } from '../../errors.js';
import type { OptionsOf } from '../command-table.js';
import { batchLine } from '../display/steer.js';
import { commandHint } from '../invocation.js';

export async function run([batchId]: string[], options: OptionsOf<'pause'>): Promise<number> {
  return withClient(async (client) => {
    const answer = await sendChange(await liveBatch(client, batchId), changeBatchUpdate, { paused: true });
    if (options.json) console.log(JSON.stringify(answer, null, 2));
    else {
      console.log(`[PAUSE] ${batchLine(batchId, answer)}`);
      console.log(`        Nothing new starts; running experiments run on. Undo: ${commandHint('resume', [batchId])}`);
    }
    return EXIT.ok;
  });
}
