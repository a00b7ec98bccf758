/**
 * Finds the official Temporal CLI, which runs the dev server: $TEMPORAL_CLI, then `temporal` on
 * PATH, then $(go env GOPATH)/bin/temporal; else builds it with Go, or says how to install it.
 */
import path from 'node:path';
import { execa } from 'execa';
import { BadInputError } from '../errors.js';
import { findExecutable, isExecutable } from '../executable.js';
import { temporalCliSetting } from '../settings.js';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

async function goBinDir(): Promise<string | undefined> {
  const result = await execa('go', ['env', 'GOPATH'], { reject: false });
  const gopath = result.exitCode === 0 ? String(result.stdout).trim().split(path.delimiter)[0] : '';
  return gopath ? path.join(gopath, 'bin') : undefined;
}

export interface FindOptions {
  /** Build with Go when no binary is found. */
  build?: boolean;
  log?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

export async function findTemporalCli(options: FindOptions = {}): Promise<string> {
  const { build = true, log = (message) => console.error(message), env = process.env } = options;
  const configured = temporalCliSetting(env);
  if (configured) {
    if (await isExecutable(configured)) return configured;
    throw new BadInputError(`TEMPORAL_CLI=${configured} is not an executable file`);
  }
  const fromPath = await findExecutable('temporal', env);
  if (fromPath) return fromPath;
  const binDir = await goBinDir();
  if (!binDir) {
    throw new BadInputError(
      'the Temporal CLI was not found and Go is not installed to build it. Install it ' +
        '(https://docs.temporal.io/cli#install) or install Go and run: go install ' +
        TEMPORAL_CLI_MODULE,
    );
  }
  const fromGo = path.join(binDir, 'temporal');
  if (await isExecutable(fromGo)) return fromGo;
  if (!build)
    throw new BadInputError(`the Temporal CLI was not found; build it with: go install ${TEMPORAL_CLI_MODULE}`);
  log(
    `staged: building the Temporal CLI with Go (go install ${TEMPORAL_CLI_MODULE}); ` +
      'the first build takes minutes…',
  );
  const result = await execa('go', ['install', TEMPORAL_CLI_MODULE], {
    reject: false,
    stdout: 'inherit',
    stderr: 'inherit',
  });
  if (result.exitCode !== 0 || !(await isExecutable(fromGo))) {
    throw new BadInputError(`building the Temporal CLI failed (go install ${TEMPORAL_CLI_MODULE})`);
  }
  return fromGo;
}
