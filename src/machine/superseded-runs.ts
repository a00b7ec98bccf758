/**
 * Runs kept on this machine that their experiment has moved on from: the server's adoption deadline for
 * run N passed (this machine slept through it, or no worker was here) and the workflow scheduled run N + 1,
 * while N's keeper, which counts its lease in awake time, still runs it. Two copies must not run on: a
 * worker here stops N as soon as it notices (when it starts, then every 10 s), and says so.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';
import type { RunInput } from '../model/types.js';
import { machineRuns, type RunsDirs } from './machine-runs.js';
import { requestStop } from './stop-run.js';

const CHECK_EVERY_MS = 10_000;
/** Where to look back for the last scheduled run: an experiment's history has a few events per run. */
const EVENTS_LOOKED_AT = 50;

export function watchSupersededRuns(
  connection: NativeConnection,
  namespace: string,
  runsDirs: RunsDirs,
  held: ReadonlySet<string>,
  log: (message: string) => void = (message) => console.log(`staged worker: ${message}`),
): { stop(): void } {
  const check = async () => {
    for await (const { runKey, files, started, kept } of machineRuns(runsDirs)) {
      const parsed = /^(.*)\.run-(\d+)$/.exec(runKey);
      if (held.has(runKey) || !started || !kept || !parsed) continue;
      const run = Number(parsed[2]);
      const latest = await latestScheduledRun(connection, namespace, decodeURIComponent(parsed[1]));
      if (latest === undefined || latest <= run) continue;
      log(`stopping run ${runKey}: its experiment has moved on to run ${latest} (its adoption deadline passed)`);
      await requestStop(files, started.keeperPid, 'cancelled');
    }
  };
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    check()
      .catch(() => undefined)
      .finally(() => (running = false));
  };
  // At once too: a worker restarted on a machine that woke up is when a superseded run is most likely.
  const first = setTimeout(tick, 0);
  const timer = setInterval(tick, CHECK_EVERY_MS);
  first.unref();
  timer.unref();
  return {
    stop: () => {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}

/** The run number of the last activity the experiment's workflow scheduled; undefined when unknown. */
async function latestScheduledRun(
  connection: NativeConnection,
  namespace: string,
  workflowId: string,
): Promise<number | undefined> {
  try {
    const { history } = await connection.workflowService.getWorkflowExecutionHistoryReverse({
      namespace,
      execution: { workflowId },
      maximumPageSize: EVENTS_LOOKED_AT,
    });
    for (const event of history?.events ?? []) {
      const payload = event.activityTaskScheduledEventAttributes?.input?.payloads?.[0];
      if (!payload || event.activityTaskScheduledEventAttributes?.activityType?.name !== 'runExperiment') continue;
      return defaultPayloadConverter.fromPayload<RunInput>(payload).run;
    }
  } catch {
    // the server cannot say: a run is never stopped on doubt
  }
  return undefined;
}
