/**
 * How a worker process is started (npm run worker, the embedded background worker, the bench).
 * A capped V8 heap makes it collect garbage before growing: under the 5,000-experiment benchmark,
 * peak RSS 405 -> 294 MiB, with no loss of throughput. The young generation is capped too (4 MB semi-spaces
 * instead of 16): V8's flags hold for the SDK's workflow thread as well, so that is two isolates whose young
 * generations otherwise grow to 32 MB each. Keep package.json's `worker` script in step (its flags).
 */
import { fileURLToPath } from 'node:url';

export const WORKER_SCRIPT = fileURLToPath(new URL('../worker.js', import.meta.url));
const WORKER_NODE_FLAGS = ['--max-old-space-size=256', '--max-semi-space-size=4'];

export function workerCommand(args: string[] = []): string[] {
  return [...WORKER_NODE_FLAGS, WORKER_SCRIPT, ...args];
}

/**
 * glibc gives each thread that allocates an arena of its own (the SDK core's, V8's and libuv's threads): with two, the
 * worker's peak RSS over 1,500 trivial experiments at concurrency 40 fell from 189 to 172 MiB, at the same speed.
 * For the worker alone: its program takes the setting out of the environment its runs inherit.
 */
const WORKER_MALLOC_ARENAS = '2';
const WORKER_MALLOC_MARK = 'STAGED_WORKER_MALLOC_ARENA_MAX';

/** What to add to the environment a worker is started with; nothing where the user set MALLOC_ARENA_MAX. */
export function workerEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.MALLOC_ARENA_MAX !== undefined) return {};
  return { MALLOC_ARENA_MAX: WORKER_MALLOC_ARENAS, [WORKER_MALLOC_MARK]: WORKER_MALLOC_ARENAS };
}

/** In the worker's program, once started: its runs get the environment it was given, not its malloc setting. */
export function dropWorkerOnlyEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  const setByStaged = env[WORKER_MALLOC_MARK];
  if (setByStaged === undefined) return;
  if (env.MALLOC_ARENA_MAX === setByStaged) delete env.MALLOC_ARENA_MAX;
  delete env[WORKER_MALLOC_MARK];
}
