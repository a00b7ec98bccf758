/**
 * The official Temporal CLI, which runs the dev server: $TEMPORAL_CLI, then `temporal` on PATH, then
 * $(go env GOPATH)/bin/temporal; else built with Go, or a message saying how to install it.
 */
import { temporalCliSetting } from '../settings.js';
import { findGoBinary, type FindOptions, type GoBinary } from './go-binary.js';

const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

const TEMPORAL_CLI: GoBinary = {
  what: 'the Temporal CLI',
  name: 'temporal',
  goPackage: TEMPORAL_CLI_MODULE,
  envVar: 'TEMPORAL_CLI',
  setting: temporalCliSetting,
  installHint: 'Install it (https://docs.temporal.io/cli#install)',
};

export function findTemporalCli(options: FindOptions = {}): Promise<string> {
  return findGoBinary(TEMPORAL_CLI, options);
}
