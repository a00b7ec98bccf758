/** The worker's program (`npm run worker`, systemd units): kept at this path so existing setups keep working. */
import { runAsProgram } from './worker/main.js';

runAsProgram(process.argv);
