#!/usr/bin/env node
/** The `staged` binary: runs the command line (cli/main.ts) and exits with its code once stdout has flushed. */
import { installStatusRoot } from './batch-client/status-root.js';
import { EXIT } from './errors.js';

// Before the SDK loads: `status` needs a fraction of its protobuf definitions, and a fraction of the time to load them.
if (process.argv[2] === 'status') installStatusRoot();
const { exitCodeOfFailure, runCli } = await import('./cli/main.js');

/** process.exit drops what a pipe has not taken yet (a long `status --json`): exit once stdout has flushed. */
function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

// A reader that stopped reading (`watch … | head`) ends the command quietly, as it ends `yes | head`.
process.stdout.on('error', (err: NodeJS.ErrnoException) =>
  process.exit(err.code === 'EPIPE' ? EXIT.ok : exitCodeOfFailure(err, process.argv.includes('--json'))),
);

void runCli(process.argv).then(exitWhenFlushed);
