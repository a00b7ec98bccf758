/**
 * How a worker process is started (npm run worker, the embedded background worker, the bench).
 * A capped V8 heap makes it collect garbage before growing: under the 5,000-experiment benchmark,
 * peak RSS 405 -> 294 MiB, with no loss of throughput. The young generation is capped too (4 MB semi-spaces
 * instead of 16): V8's flags hold for the SDK's workflow thread as well, so that is two isolates whose young
 * generations otherwise grow to 32 MB each. Keep package.json's `worker` script in step.
 */
import { fileURLToPath } from 'node:url';

export const WORKER_SCRIPT = fileURLToPath(new URL('../worker.js', import.meta.url));
const WORKER_NODE_FLAGS = ['--max-old-space-size=256', '--max-semi-space-size=4'];

export function workerCommand(args: string[] = []): string[] {
  return [...WORKER_NODE_FLAGS, WORKER_SCRIPT, ...args];
}
