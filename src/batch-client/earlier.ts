/**
 * What earlier batches tell a new submit (`--rerun-failed`, `--skip-completed`, the calls of
 * `--dry-run`): from Temporal or, once its workflows are gone, from the files on disk.
 */
import path from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { BadInputError } from '../errors.js';
import { batchSummaryFile } from '../paths.js';
import type { BatchSummary } from '../model/types.js';
import { EXPERIMENT_SEARCH_ATTRIBUTE } from '../protocol/search-attributes.js';
import { batchSummary } from './batches.js';
import { completedOnDisk, readSummaryFile, summariesOnDisk } from './files.js';
import { latestMeasuredCalls } from '../quota/plan.js';

async function finishedSummary(client: Client, batchId: string, workDir: string): Promise<BatchSummary> {
  const handle = client.workflow.getHandle(batchId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const summary = await readSummaryFile(workDir, batchId);
    if (summary) return summary;
    throw new BadInputError(
      `--rerun-failed: no batch with id "${batchId}" in Temporal, and no ${batchSummaryFile(workDir, batchId)}`,
    );
  }
  if (status === 'RUNNING')
    throw new BadInputError(`--rerun-failed: batch "${batchId}" is still running; wait for it or cancel it`);
  if (status !== 'COMPLETED')
    throw new BadInputError(`--rerun-failed: batch "${batchId}" ended ${status.toLowerCase()} without a summary`);
  return batchSummary(handle);
}

/** Names of the experiments of a finished batch that did not complete. */
export async function notCompletedIn(client: Client, batchId: string, workDir: string): Promise<Set<string>> {
  const summary = await finishedSummary(client, batchId, workDir);
  return new Set(summary.experiments.filter((e) => e.status !== 'completed').map((e) => e.name));
}

/**
 * Names of experiments of `experimentsDir` that completed in an earlier batch: from the experiment
 * workflows Temporal still keeps (their memo names the script), and from this work dir's summaries.
 */
export async function completedEarlier(
  client: Client,
  experimentsDir: string,
  workDir: string,
  searchAttributes: boolean,
): Promise<Set<string>> {
  const names = await completedOnDisk(workDir, experimentsDir);
  if (!searchAttributes) return names;
  const query = `WorkflowType = 'experimentWorkflow' AND StagedStatus = 'completed'`;
  for await (const workflow of client.workflow.list({ query })) {
    const script = workflow.memo?.script;
    const name = workflow.typedSearchAttributes.get(EXPERIMENT_SEARCH_ATTRIBUTE);
    if (name && typeof script === 'string' && path.dirname(script) === experimentsDir) names.add(name);
  }
  return names;
}

/** Each experiment of `experimentsDir`'s calls by quota when it last completed, from this work dir's summaries. */
export async function callsMeasuredEarlier(
  workDir: string,
  experimentsDir: string,
): Promise<Map<string, Record<string, number>>> {
  return latestMeasuredCalls(await summariesOnDisk(workDir, experimentsDir));
}
