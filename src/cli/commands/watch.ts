/** `watch <batchId>`: follows a batch until it ends; Ctrl-C detaches and the batch runs on. */
import { readBatch, withClient } from '../../batch-client/index.js';
import { summarize } from '../../model/batch-state.js';
import type { OptionsOf } from '../command-table.js';
import { displayFor } from '../display/display.js';
import { header, summaryLines } from '../display/render.js';
import { followUntilEnd, outcomeOf, statusBlock } from '../follow.js';
import { resolveWorkDir } from '../invocation.js';

export async function run([batchId]: string[], options: OptionsOf<'watch'>): Promise<number> {
  const workDir = resolveWorkDir(options.workDir);
  return withClient(async (client) => {
    const reading = await readBatch(client, batchId, workDir);
    if (reading.kind === 'files' || reading.status === 'COMPLETED') {
      const summary = reading.kind === 'files' ? reading.summary : summarize(reading.state);
      summaryLines(summary).forEach((line) => console.log(line));
      return outcomeOf(summary);
    }
    const { handle, state } = reading;
    const display = displayFor(process.stdout);
    header(state).forEach((line) => display.line(line));
    display.status(await statusBlock(handle, state));
    return followUntilEnd(handle, {
      statusIntervalMs: options.statusInterval,
      display,
      note: console.log,
      since: state,
      printSummary: (final) => summaryLines(final).forEach((line) => console.log(line)),
    });
  });
}
