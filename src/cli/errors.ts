/** Exit codes of the CLI and the error that means "bad input: nothing was started". */

import { BadInputError } from '../shared/bad-input.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, detached: 130 } as const;

export class UsageError extends BadInputError {}
