/** A sweep member's arguments, from its script's `Args:` line as the script says it now (the one that runs). */
import { open } from 'node:fs/promises';
import { NotRunnableError } from '../errors.js';
import { describingText } from '../experiments/docstring.js';
import { argsLineOf, argsOf, checkArgsTemplate, SweepError } from '../experiments/sweep.js';
import type { SweepParams } from '../model/sweep-names.js';

/** Docstrings live at the top of a file; discovery reads as much. */
const HEAD_BYTES = 64 * 1024;

/** Nothing for a plain script; a member's template filled in, or `--<key> <value>` per parameter. */
export async function sweepArgsOf(scriptPath: string, params: SweepParams | undefined, isPython: boolean) {
  if (!params) return [];
  const source = await readHead(scriptPath);
  try {
    const args = argsLineOf(describingText(source, isPython), source);
    if (args) checkArgsTemplate(args.template, Object.keys(params));
    return argsOf(params, args?.template);
  } catch (err) {
    if (err instanceof SweepError) throw new NotRunnableError(`${scriptPath}: ${err.message}`);
    throw err;
  }
}

async function readHead(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
