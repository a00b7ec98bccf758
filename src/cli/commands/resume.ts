/** `resume <batchId>`: a paused batch starts its queued experiments again. */
import { changeBatchUpdate } from '../../protocol/messages.js';
import { liveBatch, sendChange, withClient } from '../../batch-client/index.js';
import { EXIT } from '../../errors.js';
import type { OptionsOf } from '../command-table.js';
import { batchLine } from '../display/steer.js';

export async function run([batchId]: string[], options: OptionsOf<'resume'>): Promise<number> {
  return withClient(async (client) => {
    const answer = await sendChange(await liveBatch(client, batchId), changeBatchUpdate, { paused: false });
    if (options.json) console.log(JSON.stringify(answer, null, 2));
    else console.log(`[RESUME] ${batchLine(batchId, answer)}`);
    return EXIT.ok;
  });
}
