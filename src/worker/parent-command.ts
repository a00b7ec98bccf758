/**
 * A worker started by `staged worker` (cli/commands/worker.ts) has an IPC channel to that command. When the command
 * dies, even by SIGKILL, the channel closes: the worker then stops as on SIGTERM (its runs left to the next worker,
 * or stopped under `--on-shutdown stop`) instead of polling on where nobody sees it.
 */
export function stopWithParentCommand(): void {
  const channel = process.channel;
  if (!channel) return;
  channel.unref(); // the channel must not keep a worker that has shut down from exiting
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
