/** Finds the experiments in a directory: `*.py` files and executable files not starting with `_` or `.`. */
import { open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { experimentIdOf } from '../model/batch-state.js';
import type { ExperimentSpec } from '../model/types.js';
import { quotaUseOf } from '../quota/declaration.js';
import { describingText } from './docstring.js';
import { requirementsOf, type Resources } from '../model/requirements.js';
import { decideScriptPriority, type PriorityRules } from './priority.js';
import { BadInputError, DocstringLineError } from '../errors.js';
import { isExecutable } from '../executable.js';
import { afterLinesOf, type AfterLines } from './after-lines.js';
import { isInside } from '../paths.js';
import { DEFAULT_MAX_EXPERIMENTS, SweepLineError, sweepLinesOf, type SweepLines } from './sweep.js';
import { sweepMembers } from './sweep-members.js';
import { scriptNameOf } from '../model/sweep-names.js';

/** Docstrings live at the top of a file; this much is enough to find them. */
const HEAD_BYTES = 64 * 1024;

export interface DiscoveredExperiment extends ExperimentSpec {
  path: string;
  reason: string;
  /** Its `After:` lines as written, until resolved to names (after-lines.ts). */
  afterLines?: AfterLines;
  /** A script without its exec bit: refused if selected (refuseNotExecutable), else left alone. */
  notExecutable?: true;
  /** Its `Sweep:` and `Args:` lines, when it has any (its members share them). */
  sweepLines?: SweepLines;
  /** Why its header (a docstring line, its encoding) is bad input: refused if selected (refuseBadHeaders). */
  headerError?: string;
}

/** A selected script that cannot run as it is: bad input before anything is started. */
export function refuseNotExecutable(selected: readonly DiscoveredExperiment[]): void {
  const script = selected.find((experiment) => experiment.notExecutable);
  if (script) {
    throw new BadInputError(
      `${script.path} is not executable: chmod +x it, or start its name with _ to leave it out of the batch`,
    );
  }
}

/** A selected script whose header is malformed: bad input naming the file, its line and the problem. */
export function refuseBadHeaders(selected: readonly DiscoveredExperiment[]): void {
  const script = selected.find((experiment) => experiment.headerError !== undefined);
  if (script?.headerError !== undefined) throw new BadInputError(script.headerError);
}

interface DiscoveryRules {
  priority?: PriorityRules;
  /** Quotas a `Quota:` line may name; another name is bad input. */
  quotas?: ReadonlySet<string>;
  /** `--max-experiments`: a sweep of more members is bad input. */
  maxExperiments?: number;
}

/** What a batch carries of an experiment: no path or reason, since a batch holds thousands. */
export function specOf({
  id,
  name,
  file,
  priority,
  quotas,
  metering,
  calls,
  requires,
  after,
  afterAny,
  params,
}: DiscoveredExperiment): ExperimentSpec {
  const spec: ExperimentSpec = { id, name, file, priority };
  if (requires) spec.requires = requires;
  if (after?.length) spec.after = after;
  if (afterAny?.length) spec.afterAny = afterAny;
  if (quotas?.length) spec.quotas = quotas;
  if (metering) spec.metering = metering;
  if (quotas?.length && calls !== undefined) spec.calls = calls;
  if (params) spec.params = params;
  return spec;
}

/** Bad input found while discovering: the message names the file and the problem. */

function experimentNameOf(file: string): string {
  const extension = path.extname(file);
  return extension ? file.slice(0, -extension.length) : file;
}

function afterLinesIn(source: string, isPython: boolean, file: string): AfterLines | undefined {
  try {
    return afterLinesOf(describingText(source, isPython), source);
  } catch (err) {
    if (err instanceof BadInputError) throw new BadInputError(`${file}: ${err.message}`);
    throw err;
  }
}

/** A shell script, or any file starting with `#!`: meant to run, so a missing exec bit is a mistake, not a choice. */
async function looksLikeScript(file: string): Promise<boolean> {
  if (/\.(sh|bash)$/.test(file)) return true;
  const head = await readHead(file).catch(() => undefined);
  return head?.subarray(0, 2).toString() === '#!';
}

async function readHead(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Decodes a script's head; a file that is not text (a compiled program) has no docstring. */
function decodeHead(head: Buffer, file: string, isPython: boolean): string {
  const isScript = isPython || head.subarray(0, 2).toString('latin1') === '#!';
  const truncated = head.length === HEAD_BYTES;
  try {
    const whole = truncated ? head.subarray(0, head.lastIndexOf(10) + 1) : head;
    return new TextDecoder('utf-8', { fatal: true }).decode(whole);
  } catch {
    if (!isScript) return '';
    throw new BadInputError(`${file}: its docstring is not valid UTF-8`);
  }
}

/** The `Requires:` lines; a bad one is bad input naming the file and the line's number in it. */
function requirementsIn(source: string, isPython: boolean, file: string): Resources | undefined {
  try {
    return requirementsOf(describingText(source, isPython));
  } catch (err) {
    const quoted = /"(.*?)"/.exec((err as Error).message)?.[1];
    const lineIndex = quoted === undefined ? -1 : source.split(/\r?\n/).findIndex((line) => line.includes(quoted));
    throw new BadInputError(`${file}${lineIndex < 0 ? '' : `:${lineIndex + 1}`}: ${(err as Error).message}`);
  }
}

function sweepLinesIn(source: string, isPython: boolean, file: string): SweepLines {
  try {
    return sweepLinesOf(describingText(source, isPython), source);
  } catch (err) {
    if (err instanceof SweepLineError) throw new BadInputError(`${file}:${err.line}: ${err.message}`);
    throw err;
  }
}

/** A worker runs only scripts that really live in the experiments directory: say so now, not at run time. */
async function checkInside(realDir: string, file: string): Promise<void> {
  const realFile = await realpath(file);
  if (!isInside(realDir, realFile)) {
    throw new BadInputError(
      `${file} resolves to ${realFile}, outside the experiments directory ${realDir}: ` +
        'a worker refuses to run it (copy the script in, or point --dir at where it lives)',
    );
  }
}

/**
 * The scripts of a directory, each read on its own: one whose header is malformed is kept with its `headerError`,
 * so that a draft script stops only a submit or add that selects it.
 */
export async function discoverScripts(dir: string, rules: DiscoveryRules = {}): Promise<DiscoveredExperiment[]> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw new BadInputError(`experiments directory not found: ${dir}`);
  if (!info.isDirectory()) throw new BadInputError(`not a directory: ${dir}`);

  const realDir = await realpath(dir);
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const found: DiscoveredExperiment[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
    const file = path.join(dir, entry.name);
    const isPython = entry.name.endsWith('.py');
    const fileInfo = await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw new BadInputError(`${file}: cannot read it (${err.code ?? err.message})`);
    });
    if (isPython && fileInfo.isDirectory()) throw new BadInputError(`${file} is a directory, not a script`);
    if (!fileInfo.isFile()) continue;
    const notExecutable = !isPython && !(await isExecutable(file));
    if (notExecutable && !(await looksLikeScript(file))) continue; // data, notes: not experiments
    await checkInside(realDir, file);
    const name = experimentNameOf(entry.name);
    const twin = found.find((experiment) => scriptNameOf(experiment) === name);
    // Logs, results and workflow ids are keyed by name: two files with one name would share them.
    if (twin) throw new BadInputError(`${twin.path} and ${file} have the same name "${name}"; rename one`);
    const script: DiscoveredExperiment = {
      id: experimentIdOf(name),
      name,
      file: entry.name,
      path: file,
      priority: 'medium',
      reason: '',
    };
    if (notExecutable) script.notExecutable = true;
    try {
      found.push(...(await readHeader(script, isPython, rules)));
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      found.push({ ...script, headerError: err.message }); // judged only if selected (refuseBadHeaders)
    }
  }
  return found;
}

/** A script's header (its docstring's lines): the script as one experiment, or its sweep's members. */
async function readHeader(
  script: DiscoveredExperiment,
  isPython: boolean,
  rules: DiscoveryRules,
): Promise<DiscoveredExperiment[]> {
  const file = script.path;
  const head = await readHead(file).catch((err: NodeJS.ErrnoException) => {
    throw new BadInputError(`${file}: cannot read it (${err.code ?? err.message})`);
  });
  const source = decodeHead(head, file, isPython);
  let decision;
  let use;
  try {
    decision = decideScriptPriority(source, isPython, rules.priority);
    use = quotaUseOf(describingText(source, isPython));
  } catch (err) {
    if (err instanceof DocstringLineError) throw new BadInputError(`${file}: ${err.message}`);
    throw err;
  }
  const requires = requirementsIn(source, isPython, file);
  const unknown = use.quotas.filter((quota) => !rules.quotas?.has(quota));
  if (unknown.length) {
    const declared = rules.quotas?.size ? `declared: ${[...rules.quotas].join(', ')}` : 'none is declared';
    throw new BadInputError(`${file}: unknown quota ${unknown.join(', ')} (${declared} in staged.config.json)`);
  }
  const experiment: DiscoveredExperiment = { ...script, ...decision };
  if (use.quotas.length) experiment.quotas = use.quotas;
  if (use.calls !== undefined) experiment.calls = use.calls;
  if (use.metering) experiment.metering = use.metering;
  if (requires) experiment.requires = requires;
  const afterLines = afterLinesIn(source, isPython, file);
  if (afterLines) experiment.afterLines = afterLines;
  const sweepLines = sweepLinesIn(source, isPython, file);
  if (sweepLines.sweep || sweepLines.args) experiment.sweepLines = sweepLines;
  const { sweep } = sweepLines;
  const maxExperiments = rules.maxExperiments ?? DEFAULT_MAX_EXPERIMENTS;
  return sweep ? sweepMembers(experiment, sweep.sweep, `${file}:${sweep.line}`, maxExperiments) : [experiment];
}

/** Every experiment of a directory, as a whole-directory submit takes them: a malformed header is bad input. */
export async function discoverExperiments(dir: string, rules: DiscoveryRules = {}): Promise<DiscoveredExperiment[]> {
  const found = await discoverScripts(dir, rules);
  refuseBadHeaders(found);
  return found;
}
