#!/usr/bin/env node
/** The `staged` binary: runs the command line (cli/main.ts) and exits with its code once stdout has flushed. */
import { exitCodeOfFailure, runCli } from './cli/main.js';
import { EXIT } from './errors.js';

/** process.exit drops what a pipe has not taken yet (a long `status --json`): exit once stdout has flushed. */
function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

// A reader that stopped reading (`watch … | head`) ends the command quietly, as it ends `yes | head`.
process.stdout.on('error', (err: NodeJS.ErrnoException) =>
  process.exit(err.code === 'EPIPE' ? EXIT.ok : exitCodeOfFailure(err, process.argv.includes('--json'))),
);

void runCli(process.argv).then(exitWhenFlushed);
