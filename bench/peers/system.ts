/** One column of the bench's figures: staged on one server, or a peer running the very same scripts. */
import type { BenchServer } from '../bench-env.js';
import type { Timeline } from '../timeline.js';

export interface SystemRun {
  timeline: Timeline;
  /** `status --json` times on the running batch (staged only, when asked for). */
  statusMs?: number[];
  /** staged only: CPU per experiment of its server and of its workers (with their keepers and scripts), in ms. */
  cpu?: { serverMs: number; workersMs: number };
}

export interface BenchSystem {
  /** Its column in the table: `staged file DB`, `tsp`, `xargs`… */
  column: string;
  /** Runs `count` experiments of `seconds` each from makeExperiments, `concurrency` at once; their stamps. */
  run(
    name: string,
    count: number,
    seconds: number,
    concurrency: number,
    timeStatusAfterMs?: number,
  ): Promise<SystemRun>;
  /** staged's server, for the parts only staged has (scale, quota); absent for peers. */
  server?: BenchServer;
}

/** How long a peer may take for `count` experiments of `seconds`, `concurrency` at once, before the bench gives up. */
export const peerTimeoutMs = (count: number, seconds: number, concurrency: number) =>
  120_000 + count * 2_000 + Math.ceil(count / concurrency) * seconds * 1_000;
