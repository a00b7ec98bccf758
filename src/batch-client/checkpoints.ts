/**
 * `--rerun-failed <batch>`: the rerun's experiments keep the checkpoints of that batch's, under the results of the
 * batch that first ran them: that batch, or the one it was itself a rerun of (its batch.json says which).
 */
import { readBatchRecord } from './files.js';

export async function checkpointBatchOf(workDir: string, rerunOf: string): Promise<string> {
  const record = await readBatchRecord(workDir, rerunOf);
  return record?.checkpointBatch ?? rerunOf;
}
