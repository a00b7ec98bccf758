#!/usr/bin/env node
/** The `staged` binary: runs the command line (cli/main.ts) and exits with its code once stdout has flushed. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { installStatusRoot } from './batch-client/status-root.js';
import { runWithCodeCache } from './cli/code-cache.js';
import { EXIT } from './errors.js';

type Cli = Pick<typeof import('./cli/main.js'), 'exitCodeOfFailure' | 'runCli'>;
type StatusBundle = typeof import('./cli/status-main.js');

/** Made by `npm run build` (cli/status-bundle-build.ts): status in one file, loaded in a fraction of the time. */
const STATUS_BUNDLE = fileURLToPath(new URL('./cli/status-bundle.cjs', import.meta.url));

async function loadCli(): Promise<Cli & { keepCache: () => void }> {
  if (process.argv[2] !== 'status') return { ...(await import('./cli/main.js')), keepCache: () => undefined };
  if (existsSync(STATUS_BUNDLE)) {
    const { exports: bundle, keepCache } = runWithCodeCache<StatusBundle>(STATUS_BUNDLE);
    return { exitCodeOfFailure: bundle.exitCodeOfFailure, runCli: bundle.runStatusCli, keepCache };
  }
  // Before the SDK loads: status needs a fraction of its protobuf definitions, and a fraction of the time to load them.
  installStatusRoot();
  return { ...(await import('./cli/main.js')), keepCache: () => undefined };
}
const { exitCodeOfFailure, runCli, keepCache } = await loadCli();

/** process.exit drops what a pipe has not taken yet (a long `status --json`): exit once stdout has flushed. */
function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

// A reader that stopped reading (`watch … | head`) ends the command quietly, as it ends `yes | head`.
process.stdout.on('error', (err: NodeJS.ErrnoException) =>
  process.exit(err.code === 'EPIPE' ? EXIT.ok : exitCodeOfFailure(err, process.argv.includes('--json'))),
);

void runCli(process.argv).then((code) => {
  if (code === EXIT.ok) keepCache(); // a run that worked has compiled what the next one needs
  exitWhenFlushed(code);
});
