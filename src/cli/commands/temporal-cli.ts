/** `temporal-cli`: prints the path of the Temporal CLI, building it with Go when it is missing. */
import { EXIT } from '../../errors.js';
import { findTemporalCli } from '../../server/temporal-cli.js';

export async function run(): Promise<number> {
  console.log(await findTemporalCli());
  return EXIT.ok;
}
