/** Writes a finished batch's summary beside its results: summary.json (as `submit --json`) and summary.md. */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { batchResultsDir } from '../paths.js';
import { summarize } from '../model/batch-state.js';
import { unpackBatchState, type PackedBatchState } from '../model/packed-state.js';
import { summaryMarkdown } from '../model/summary-table.js';
import { checkPlainName } from '../machine/script-check.js';

export async function writeBatchSummary(packed: PackedBatchState): Promise<string> {
  const state = unpackBatchState(packed);
  checkPlainName('batch id', state.batchId); // it names a folder, and the workflow input is untrusted
  const summary = summarize(state);
  const dir = batchResultsDir(state.settings.workDir, state.batchId);
  await mkdir(dir, { recursive: true });
  await writeAtomically(path.join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeAtomically(path.join(dir, 'summary.md'), summaryMarkdown(summary));
  return dir;
}

/** A reader never sees half a file, and a retried attempt simply replaces it. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const partial = `${file}.partial`;
  await writeFile(partial, text);
  await rename(partial, file);
}
