/**
 * The shapes of a batch's files, checked when read. Loaded only when a file is read (files.ts): zod costs
 * tens of milliseconds to load, which `status` of a running batch does not need.
 */
import { z } from 'zod';
import { END_REASONS, PRIORITIES } from '../model/types.js';

export const recordSchema = z.object({
  batchId: z.string(),
  submittedAt: z.string(),
  experimentsDir: z.string(),
  workDir: z.string(),
  experiments: z.array(z.string()),
  /** Where its experiments' checkpoints live (`--rerun-failed`); absent: under its own results. */
  checkpointBatch: z.string().optional(),
});
export type BatchRecord = z.infer<typeof recordSchema>;

export const summarySchema = z.object({
  batchId: z.string(),
  experiments: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      priority: z.enum(PRIORITIES),
      status: z.enum(['completed', 'failed', 'cancelled']),
      attempts: z.number(),
      exitCode: z.number().nullable(),
      reason: z.enum(END_REASONS).nullable().default(null),
      startedAt: z.string().nullable(),
      closedAt: z.string().nullable(),
      calls: z.record(z.string(), z.number()).optional(),
      requeues: z.number().optional(),
      lostRuns: z.number().optional(),
      sweep: z.string().optional(),
      params: z.record(z.string(), z.string()).optional(),
    }),
  ),
  code: z
    .object({
      noGit: z.string().optional(),
      commit: z.string().optional(),
      branch: z.string().optional(),
      dirty: z.array(z.string()).optional(),
      dirtyCount: z.number().optional(),
      snapshotDir: z.string().optional(),
    })
    .optional(),
});
