/**
 * How long Temporal keeps a finished batch's workflows: the namespace's retention. The dev server
 * creates its namespace with 24 hours and has no flag for it (temporal CLI v1.5.1), so staged sets
 * it through UpdateNamespace, as `temporal operator namespace update --retention` does.
 */
import type { Connection } from '@temporalio/client';
import { msNumberToTs, tsToMs } from '@temporalio/common';
import { parseDuration } from '../parse/duration.js';
import { BadInputError } from '../errors.js';

const DEFAULT_RETENTION = '30d';
/** Temporal refuses a retention under one day. */
const MIN_RETENTION_MS = 86_400_000;
const MAX_RETENTION_MS = 10 * 365 * 86_400_000;

/** A retention as written (`30d`), in ms; throws a message that reads after the option's name. */
export function parseRetentionMs(text: string): number {
  const ms = parseDuration(text, { maxMs: MAX_RETENTION_MS });
  if (ms < MIN_RETENTION_MS) throw new Error(`"${text}" is too short: Temporal keeps finished workflows at least 1d`);
  return ms;
}

/** `--retention` or STAGED_RETENTION (named by `source` in the error), in ms; default 30 days. */
export function parseRetention(text: string | undefined, source: string): number {
  try {
    return parseRetentionMs(text ?? DEFAULT_RETENTION);
  } catch (err) {
    throw new BadInputError(`${source}: ${(err as Error).message}`);
  }
}

export async function setRetention(connection: Connection, namespace: string, retentionMs: number): Promise<void> {
  await connection.workflowService.updateNamespace({
    namespace,
    config: { workflowExecutionRetentionTtl: msNumberToTs(retentionMs) },
  });
}

export async function retentionOf(connection: Connection, namespace: string): Promise<number> {
  const { config } = await connection.workflowService.describeNamespace({ namespace });
  return tsToMs(config?.workflowExecutionRetentionTtl);
}
