/**
 * A worker's Prometheus endpoint (`--metrics`): the SDK runtime's exporter, which serves the SDK's
 * own metrics (temporal_*), the workflows' (batch counts) and the ones recorded here by activities,
 * all on one `/metrics`. The runtime is process-wide and installed once, before any connection.
 */
import { Runtime, type LogLevel } from '@temporalio/worker';
import type { MetricMeter, MetricTags } from '@temporalio/common';
import { BadInputError } from '../errors.js';
import type { RunExit } from '../keeper/run-files.js';
import type { RunInput } from '../model/types.js';
import { METRICS, RUN_DURATION_BUCKETS, START_WAIT_BUCKETS } from '../model/metric-names.js';
import { WorkerLogger } from './sdk-logger.js';

/** Installs the SDK runtime: its logger (the SDK's native lines too), and the Prometheus exporter when asked. */
export function installRuntime(logLevel: LogLevel, metricsAddress: string | undefined): void {
  try {
    Runtime.install({
      logger: new WorkerLogger(logLevel),
      telemetryOptions: {
        // The SDK's native lines through the logger above (uncoloured, outages said once), at the SDK's default filter
        logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
        ...(metricsAddress && {
          metrics: {
            prometheus: {
              bindAddress: metricsAddress,
              histogramBucketOverrides: {
                [METRICS.startWait.name]: START_WAIT_BUCKETS,
                [METRICS.runDuration.name]: RUN_DURATION_BUCKETS,
              },
            },
          },
        }),
      },
    });
    Runtime.instance(); // the exporter binds here: a taken port fails now, not at the first connection
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (metricsAddress && /metrics|address/i.test(why)) throw new BadInputError(`--metrics ${metricsAddress}: ${why}`);
    throw err;
  }
}

type Outcome = 'completed' | 'failed' | 'timeout' | 'cancelled';

function outcomeOf(exit: RunExit): Outcome | undefined {
  switch (exit.end) {
    case 'exited':
      return exit.exitCode === 0 ? 'completed' : 'failed';
    case 'timeout':
    case 'cancelled':
      return exit.end;
    default:
      return undefined; // never started, or stopped to run again elsewhere: not an attempt's duration
  }
}

const labelsOf = (input: RunInput): MetricTags => ({ batch: input.batchId, priority: input.experiment.priority });
const keyOf = (labels: MetricTags) => `${String(labels.batch)}\0${String(labels.priority)}`;

/** What the activities of one worker record: its runs' starts, durations and quota calls. */
export class WorkerMetrics {
  private readonly running;
  private readonly startWait;
  private readonly runDuration;
  private readonly quotaGranted;
  private readonly quotaWasted;
  /** Runs held now, by batch and priority, as the gauge shows them. */
  private readonly held = new Map<string, { labels: MetricTags; count: number }>();

  constructor(meter: MetricMeter, taskQueue: string, slots: number) {
    // As the SDK tags staged's workflow metrics: one label name across all staged_* metrics.
    const tagged = meter.withTags({ taskQueue });
    this.running = tagged.createGauge(METRICS.running.name, 'int', undefined, METRICS.running.help);
    this.startWait = tagged.createHistogram(METRICS.startWait.name, 'float', 's', METRICS.startWait.help);
    this.runDuration = tagged.createHistogram(METRICS.runDuration.name, 'float', 's', METRICS.runDuration.help);
    this.quotaGranted = tagged.createCounter(METRICS.quotaGranted.name, undefined, METRICS.quotaGranted.help);
    this.quotaWasted = tagged.createCounter(METRICS.quotaWasted.name, undefined, METRICS.quotaWasted.help);
    tagged.createGauge(METRICS.slots.name, 'int', undefined, METRICS.slots.help).set(slots);
  }

  /** The run's process started `waitedMs` after its attempt was handed to the workers. */
  runStarted(input: RunInput, waitedMs: number): void {
    this.startWait.record(Math.max(0, waitedMs) / 1000, labelsOf(input));
  }

  runEnded(input: RunInput, exit: RunExit, startedAt: number | undefined): void {
    const outcome = outcomeOf(exit);
    if (!outcome || startedAt === undefined) return;
    this.runDuration.record(Math.max(0, exit.endedAt - startedAt) / 1000, { ...labelsOf(input), outcome });
  }

  /** Counts the run as running on this worker while `hold` lasts. */
  async holding<T>(input: RunInput, hold: () => Promise<T>): Promise<T> {
    const labels = labelsOf(input);
    const entry = this.held.get(keyOf(labels)) ?? { labels, count: 0 };
    this.held.set(keyOf(labels), entry);
    this.running.set(++entry.count, labels);
    try {
      return await hold();
    } finally {
      this.running.set(--entry.count, labels); // 0 stays shown: the batch's series ends at zero, not at its last value
      if (entry.count === 0) this.held.delete(keyOf(labels));
    }
  }

  /** Adds what a run was granted since the last look; `calls` counts since the run was held here. */
  quotaCallsWatcher(): (calls: Record<string, number> | undefined) => void {
    const seen: Record<string, number> = {};
    return (calls) => {
      for (const [quota, total] of Object.entries(calls ?? {})) {
        if (total > (seen[quota] ?? 0)) this.quotaGranted.add(total - (seen[quota] ?? 0), { quota });
        seen[quota] = Math.max(total, seen[quota] ?? 0);
      }
    };
  }

  /** Follows the agent's running count of wasted grants per quota; stopped with the worker. */
  watchWastedGrants(wasted: () => Record<string, number>, everyMs = WASTED_POLL_MS): { stop(): void } {
    const seen: Record<string, number> = {};
    const look = () => {
      for (const [quota, total] of Object.entries(wasted())) {
        if (total > (seen[quota] ?? 0)) this.quotaWasted.add(total - (seen[quota] ?? 0), { quota });
        seen[quota] = Math.max(total, seen[quota] ?? 0);
      }
    };
    const timer = setInterval(look, everyMs);
    timer.unref();
    return {
      stop() {
        clearInterval(timer);
        look();
      },
    };
  }
}

const WASTED_POLL_MS = 5_000;
