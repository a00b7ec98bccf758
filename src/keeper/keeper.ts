/**
 * The keeper of one run: a small process, detached from the worker, that starts the experiment,
 * owns its output (the log file, with its size policy) and its whole process tree, and records how
 * it ended. It outlives the worker, so a worker restarted on this machine adopts the run instead of
 * starting it again; it stops the run itself on timeout, on request (SIGTERM), or when no worker
 * has renewed its lease within the adoption window, counted in time the machine was awake
 * (see docs/reliability.md). It freezes the run's tree while its directory holds a `freeze` request,
 * and its timeout counts only the time the run was not frozen.
 *
 * Usage: node keeper.js <run directory>   (the experiment's environment is the keeper's own)
 *        node keeper.js --standby         (started ahead by a worker: reads `{"dir", "env"}` on stdin,
 *                                          then keeps that run; exits when stdin closes with nothing)
 */
import { spawn } from 'node:child_process';
import { appendFile, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import { finished } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { AttemptLog } from './attempt-log.js';
import { ProgressReader, type ProgressMark } from '../model/progress.js';
import { RunFiles, STANDBY_FLAG, type RunEnd, type RunSpec, type RunStarted } from './run-files.js';
import { processIdentityOf } from './process-identity.js';
import { LeaseClock, type LeaseAge } from './lease-clock.js';
import { RUN_MARKER, runTreeFor } from './run-tree.js';
import { forcedKillModeSetting } from '../settings.js';
import { FrozenTime, isTimedOut } from './frozen-time.js';
import { SIGTERM_EXPLAINED_WITHIN_MS, meaningOfSigterm } from './sigterm.js';
import { isWarningDue, sendWarning } from './warn-signal.js';

const TAIL_LINES = 20;
const CHECK_EVERY_MS = 250;
const PROGRESS_EVERY_MS = 1_000;
/** After the main process exits, output still in the pipes gets this long to arrive. */
const DRAIN_MS = 2_000;
/** Beyond the kill grace, how long a stopped run's main process may live before it is stopped again. */
const STOP_AGAIN_AFTER_MS = 1_000;
const WAITED_S = SIGTERM_EXPLAINED_WITHIN_MS / 1000;
const UNEXPLAINED_SIGTERM = `its keeper was sent SIGTERM, and no worker asked for a stop within ${WAITED_S}s`;

async function keep(files: RunFiles, env: NodeJS.ProcessEnv): Promise<void> {
  // Listened to before anything starts: a stop asked for in the first milliseconds must not be lost.
  let stopAsked: RunEnd | undefined;
  let onStopAsked: (end: RunEnd) => void = (end) => (stopAsked = end);
  process.on('SIGTERM', () => {
    void meaningOfSigterm(files, Date.now()).then(async (meaning) => {
      if (meaning === 'left') {
        await note(files, 'SIGTERM ignored: its worker let go of the run for adoption at the same time; it goes on');
        return;
      }
      if (meaning === 'terminated') await note(files, `stopping the run: ${UNEXPLAINED_SIGTERM}`);
      onStopAsked(meaning);
    });
  });
  const spec = (await files.readJson<RunSpec>(files.spec))!;
  const tree = await runTreeFor(spec.runId, forcedKillModeSetting(env));
  const command = tree.wrap(spec.file, spec.args);
  const log = new AttemptLog(spec.logFile, spec.logLimitBytes);
  const child = spawn(command.file, command.args, {
    cwd: spec.cwd,
    env: { ...env, [RUN_MARKER]: spec.runId },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Listened to at once: a script may exit before the first await below returns.
  let noticeExit: (ending: [number | null, NodeJS.Signals | null]) => void = () => undefined;
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => (noticeExit = resolve));
  child.once('exit', (code, signal) => noticeExit([code, signal]));
  // Read at once too: Node discards the output of an exited child that nobody reads yet (flushStdio).
  const reader = new ProgressReader();
  const decoder = new StringDecoder('utf8');
  let progressChanged = false;
  let firstProgress: ProgressMark | undefined;
  const onOutput = (chunk: Buffer) => {
    if (reader.feed(decoder.write(chunk))) progressChanged = true;
    if (!firstProgress && reader.progress) firstProgress = { percent: reader.progress.percent, at: Date.now() };
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const outputDone = Promise.all([finished(child.stdout), finished(child.stderr)]).catch(() => undefined);
  const spawned = await Promise.race([
    once(child, 'spawn').then(() => undefined),
    once(child, 'error').then(([err]) => err as Error),
  ]);
  if (spawned) {
    log.end();
    await files.writeJson(files.exit, {
      end: 'spawn-failed',
      exitCode: null,
      signal: null,
      endedAt: Date.now(),
      tail: [],
      error: spawned.message,
    });
    await tree.release();
    return;
  }
  const startedAt = Date.now();
  const started: RunStarted = {
    keeperPid: process.pid,
    keeper: processIdentityOf(process.pid),
    pid: child.pid!,
    startedAt,
    killMode: tree.mode,
  };
  await files.writeJson(files.state, started);

  const frozenTime = new FrozenTime();
  // One freeze or thaw at a time; a stop waits for the one under way.
  let freezeWork: Promise<void> = Promise.resolve();
  let freezeBusy = false;
  let freezeConfirmed = true;
  const recordFrozen = () => files.writeJson(files.frozen, frozenTime.record()).catch(() => undefined);
  const followFreezeRequest = async (wanted: boolean) => {
    if (stopping) return;
    if (wanted && (!frozenTime.frozen || !freezeConfirmed)) {
      const since = Date.now();
      freezeConfirmed = await tree.freeze().catch(() => false);
      if (frozenTime.frozen) return;
      frozenTime.freeze(since);
      await recordFrozen();
      const how = tree.mode === 'cgroup' ? 'cgroup.freeze' : 'SIGSTOP to each process';
      await note(files, `froze the run (${how})${freezeConfirmed ? '' : '; some processes not yet stopped'}`);
    } else if (!wanted && frozenTime.frozen) {
      await tree.thaw();
      const frozenMs = Date.now() - (frozenTime.record().since ?? Date.now());
      frozenTime.thaw(Date.now());
      freezeConfirmed = true;
      await recordFrozen();
      await note(files, `thawed the run after ${frozenMs / 1000}s frozen`);
    }
  };
  // Written at once: it tells a worker that this keeper can freeze its run (a keeper before it cannot).
  await recordFrozen();
  // A frozen run would not see its SIGTERM: it is thawed first.
  const thawBeforeStop = async () => {
    await freezeWork;
    if (!frozenTime.frozen) return;
    await tree.thaw();
    frozenTime.thaw(Date.now());
    await recordFrozen();
  };

  let stopping: { end: RunEnd; at: number; done: Promise<void>; repeated: boolean } | undefined;
  const stop = (end: RunEnd) => {
    stopping ??= {
      end,
      at: Date.now(),
      done: thawBeforeStop().then(() => tree.stop(spec.killGraceMs)),
      repeated: false,
    };
  };
  onStopAsked = stop;
  if (stopAsked) stop(stopAsked);

  let lastProgressWrite = 0;
  let warned = false;
  const lease = new LeaseClock();
  const watch = setInterval(() => {
    const now = Date.now();
    // Never wait on a missed event.
    if (child.exitCode !== null || child.signalCode !== null) noticeExit([child.exitCode, child.signalCode]);
    if (isTimedOut(frozenTime, startedAt, now, spec.timeoutMs)) stop('timeout');
    if (!warned && !stopping && isWarningDue(frozenTime, startedAt, now, spec.timeoutMs, spec.warning)) {
      warned = true;
      const sent = sendWarning(child.pid!, spec.warning!) ? 'sent' : 'could not send';
      void note(files, `${sent} ${spec.warning!.signal}: ${spec.warning!.beforeMs / 1000}s before its --timeout`);
    }
    if (!stopping && !freezeBusy) {
      freezeBusy = true;
      freezeWork = files
        .freezeRequested()
        .then(followFreezeRequest)
        .catch(() => undefined)
        .finally(() => (freezeBusy = false));
    }
    // A stop that came before the script had joined its cgroup found nothing to kill: stop it again, at once.
    if (stopping && !stopping.repeated && now - stopping.at > spec.killGraceMs + STOP_AGAIN_AFTER_MS) {
      stopping.repeated = true;
      void tree.stop(0).catch(() => undefined);
    }
    // Fire-and-forget on each tick: leaseRenewedAt never rejects (a missing lease reads as undefined).
    void files.leaseRenewedAt().then((renewedAt) => {
      const age = lease.observe(renewedAt, Date.now(), performance.now());
      if (!age || age.awakeMs <= spec.leaseTimeoutMs || stopping) return;
      stop('abandoned');
      void note(files, `stopping the run: ${leaseExpiry(age, spec.leaseTimeoutMs)}`);
    });
    if (progressChanged && reader.progress && now - lastProgressWrite >= PROGRESS_EVERY_MS) {
      progressChanged = false;
      lastProgressWrite = now;
      files
        .writeJson(files.progress, { progress: reader.progress, progressAt: now, firstProgress })
        .catch(() => undefined);
    }
  }, CHECK_EVERY_MS);

  const [exitCode, signal] = await exited;
  clearInterval(watch);
  // The run ends with its main process: whatever it left behind goes too, and may not hold the output open.
  stop(stopping?.end ?? 'exited');
  await stopping!.done;
  await Promise.race([outputDone, delay(DRAIN_MS)]);
  child.stdout.unpipe(log);
  child.stderr.unpipe(log);
  child.stdout.destroy();
  child.stderr.destroy();
  log.end();
  await finished(log).catch(() => undefined);
  if (reader.progress) {
    await files.writeJson(files.progress, { progress: reader.progress, progressAt: Date.now(), firstProgress });
  }
  await files.writeJson(files.exit, {
    end: stopping!.end,
    exitCode,
    signal,
    endedAt: Date.now(),
    tail: log.lastLines(TAIL_LINES),
    ...(stopping!.end === 'terminated' ? { error: UNEXPLAINED_SIGTERM } : {}),
  });
  await tree.release();
  await rm(files.lease, { force: true });
}

function leaseExpiry({ awakeMs, wallMs, renewedAt }: LeaseAge, windowMs: number): string {
  return (
    `its lease was last renewed as of ${new Date(renewedAt).toISOString()}, ${awakeMs / 1000}s of awake time ago ` +
    `(wall clock: ${wallMs / 1000}s), past the adoption window of ${windowMs / 1000}s: ` +
    'no worker here holds it, and another copy may start elsewhere'
  );
}

/** A line in the run's keeper.log: why the keeper did what it did. */
async function note(files: RunFiles, message: string): Promise<void> {
  await appendFile(files.keeperLog, `staged keeper ${new Date().toISOString()}: ${message}\n`).catch(() => undefined);
}

/** A standby keeper's run: the worker's one message, or undefined when the worker went away first. */
async function handedRun(): Promise<{ dir: string; env: NodeJS.ProcessEnv } | undefined> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk as string;
  return text.trim() ? (JSON.parse(text) as { dir: string; env: NodeJS.ProcessEnv }) : undefined;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] !== STANDBY_FLAG) {
    if (!argv[0]) throw new Error('usage: keeper.js <run directory> | keeper.js --standby');
    return keep(new RunFiles(argv[0]), process.env);
  }
  const run = await handedRun();
  if (!run) return;
  // Its working directory names the run it keeps, until its state.json says who it is (keeperAlive()).
  process.chdir(run.dir);
  const files = new RunFiles(run.dir);
  await keep(files, run.env).catch(async (err) => {
    await appendFile(files.keeperLog, `staged keeper: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`);
    throw err;
  });
}

// A keeper ignores the terminal's signals: it is stopped only through its run directory and SIGTERM.
process.on('SIGINT', () => undefined);
process.on('SIGHUP', () => undefined);
main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    console.error(`staged keeper: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
    process.exit(1);
  },
);
