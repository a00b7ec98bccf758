/**
 * task-spooler (`tsp`, Debian's name for `ts`): a local queue server, the same scripts at `tsp -S <concurrency>`.
 * Its own TS_SOCKET and TMPDIR in a scratch dir, so it never touches a user's queue; `tsp -K` and the dir go
 * at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { makeExperiments, readTimeline, waitForEnds } from '../timeline.js';
import { ensureInstalled } from './install.js';
import { peerTimeoutMs, type BenchSystem } from './system.js';

/** tsp serves at most 1,000 connections (TS_MAXCONN cannot raise it): beyond them an enqueue waits for a slot. */
const QUEUED_AT_MOST = 900;

/**
 * tsp as a column, or undefined when it cannot be installed. Calls `started` with its stop before its
 * server runs, so that a failure or Ctrl-C stops it too.
 */
export async function startTsp(started: (stop: () => Promise<void>) => void): Promise<BenchSystem | undefined> {
  if (!(await ensureInstalled('tsp', ['tsp'], ['task-spooler']))) return undefined;
  const scratch = await mkdtemp(path.join(tmpdir(), 'staged-bench-tsp-'));
  const env = {
    TS_SOCKET: path.join(scratch, 'socket'),
    TMPDIR: scratch,
  };
  const tsp = (args: string[]) => execa('tsp', args, { env });
  started(async () => {
    await execa('tsp', ['-K'], { env, reject: false });
    await rm(scratch, { recursive: true, force: true });
  });
  return {
    column: 'tsp',
    async run(name, count, seconds, concurrency) {
      const { dir, journal } = await makeExperiments(`${name}-tsp`, count, seconds);
      await tsp(['-S', String(concurrency)]);
      // A gate job holding every slot while the queue fills, so that enqueueing does not pace the run.
      const gate = path.join(dir, '_gate');
      await tsp(['-n', '-N', String(concurrency), 'sh', '-c', `while [ ! -e "${gate}" ]; do sleep 0.02; done`]);
      // Opened once the queue is full or holds QUEUED_AT_MOST jobs: each queued job holds one of tsp's connections.
      const fill =
        `i=0; for f in "${dir}"/exp*; do STAGED_EXPERIMENT="$f" tsp -n "$f" > /dev/null; ` +
        `i=$((i + 1)); [ "$i" -eq ${QUEUED_AT_MOST} ] && : > "${gate}"; done; : > "${gate}"`;
      await execa('sh', ['-c', fill], { env });
      await waitForEnds(journal, count, peerTimeoutMs(count, seconds, concurrency));
      await tsp(['-C']);
      return { timeline: await readTimeline(journal) };
    },
  };
}
