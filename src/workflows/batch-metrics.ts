/**
 * The batch's counts as Prometheus metrics, from the batch's own state: every change to an
 * experiment's record is compared with what was last counted for it. What a run inherits across a
 * continue-as-new was counted by the run before; the workflow meter records nothing while replaying.
 */
import type { MetricCounter } from '@temporalio/common';
import { metricMeter } from '@temporalio/workflow';
import { isFinal } from '../model/batch-state.js';
import { METRICS } from '../model/metric-names.js';
import type { BatchState, ExperimentSpec, ExperimentStatus } from '../model/types.js';

export class BatchMetrics {
  /** By name: queued experiments move within the batch (`change`, `add`), their names stay. */
  private readonly counted = new Map<string, { status: ExperimentStatus; attempts: number }>();
  private readonly submitted: MetricCounter;
  private readonly started: MetricCounter;
  private readonly ended: MetricCounter;
  private readonly attempts: MetricCounter;
  private readonly retries: MetricCounter;

  constructor(private readonly state: BatchState) {
    state.records.forEach(({ status, attempts }, index) =>
      this.counted.set(state.experiments[index].name, { status, attempts }),
    );
    const counter = ({ name, help }: { name: string; help: string }) =>
      metricMeter.createCounter(name, undefined, help);
    this.submitted = counter(METRICS.submitted);
    this.started = counter(METRICS.started);
    this.ended = counter(METRICS.ended);
    this.attempts = counter(METRICS.attempts);
    this.retries = counter(METRICS.retries);
  }

  /** The batch's experiments, by priority: once, in the first run of the batch. */
  countSubmitted(): void {
    if (this.state.generation !== 0) return;
    const byPriority = new Map<string, number>();
    for (const { priority } of this.state.experiments) byPriority.set(priority, (byPriority.get(priority) ?? 0) + 1);
    for (const [priority, count] of byPriority) this.submitted.add(count, { batch: this.state.batchId, priority });
  }

  /** Experiments added to the running batch (`add`). */
  countAdded(experiments: readonly ExperimentSpec[]): void {
    for (const { name, priority } of experiments) {
      this.counted.set(name, { status: 'queued', attempts: 0 });
      this.submitted.add(1, { batch: this.state.batchId, priority });
    }
  }

  /** Counts what changed in the experiment's record since it was last counted. */
  countChange(index: number): void {
    const record = this.state.records[index];
    const counted = this.counted.get(this.state.experiments[index]?.name);
    if (!record || !counted) return;
    const labels = { batch: this.state.batchId, priority: this.state.experiments[index].priority };
    if (record.attempts > counted.attempts) {
      if (counted.attempts === 0) this.started.add(1, labels);
      this.attempts.add(record.attempts - counted.attempts, labels);
      counted.attempts = record.attempts;
    }
    if (record.status !== counted.status && !isFinal(counted.status)) {
      if (record.status === 'retrying') this.retries.add(1, labels);
      if (isFinal(record.status)) this.ended.add(1, { ...labels, status: record.status });
      counted.status = record.status;
    }
  }

  countAll(): void {
    this.state.records.forEach((_, index) => this.countChange(index));
  }
}
