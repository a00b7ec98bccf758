/**
 * Sweeps: a `Sweep:` line (or `submit --sweep`) expands one script into the product of its parameters' values, and
 * an `Args:` template turns a member's parameters into its arguments. Pure: no I/O; errors are `SweepError`s whose
 * message reads after `file:line: `.
 *
 *   Sweep: lr=1e-3,3e-4,1e-4; seed=1..5           3 × 5 = 15 members, lr slowest
 *   Sweep: zip(lr=1e-3,1e-4; warmup=100,1000)     paired lists: 2 members (lr=1e-3 with warmup=100, …)
 *   Args: --lr {lr} --seed={seed}                 default: --lr <value> --seed <value>, in declared order
 */
import { memberName, type SweepParams } from '../model/sweep-names.js';

export class SweepError extends Error {}

/** One factor of the product: a single parameter, or paired parameters (`zip`) whose values go together by row. */
export interface SweepFactor {
  keys: string[];
  /** Each row holds one value per key, in `keys` order. */
  rows: string[][];
}

export interface Sweep {
  factors: SweepFactor[];
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RANGE = /^(-?\d+)\.\.(-?\d+)$/;
/** `0.1..0.5`, `1e-3..1e-1`: a range of numbers that are not all integers. */
const NUMBER = '[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:e[+-]?\\d+)?';
const NON_INTEGER_RANGE = new RegExp(`^${NUMBER}\\.\\.${NUMBER}$`, 'i');
const ZIP = /^zip\s*\((.*)\)$/s;
/** A member name is one segment of a path and of a workflow id; with a batch id and a run number it must fit 255. */
export const MAX_MEMBER_NAME = 150;
/** The most members a batch may hold unless `--max-experiments` says otherwise. */
export const DEFAULT_MAX_EXPERIMENTS = 10_000;

/** `lr=1e-3,3e-4; seed=1..5`: the factors of a sweep, in declared order. */
export function parseSweep(text: string): Sweep {
  if (!text.trim()) throw new SweepError('the sweep is empty: write key=value,value; key=a..b');
  const factors = splitOutside(text, ';').map((part) => parseFactor(part.trim()));
  if (!factors.length || (factors.length === 1 && !factors[0].keys.length)) throw new SweepError('the sweep is empty');
  const keys = factors.flatMap((factor) => factor.keys);
  checkKeys(keys);
  return { factors };
}

/** Several sweeps of one script (`Sweep:` lines): one product of all their factors. */
export function joinSweeps(sweeps: Sweep[]): Sweep {
  const joined = { factors: sweeps.flatMap((sweep) => sweep.factors) };
  checkKeys(joined.factors.flatMap((factor) => factor.keys));
  return joined;
}

function checkKeys(keys: string[]): void {
  const seen = new Map<string, string>();
  for (const key of keys) {
    // STAGED_PARAM_<KEY> is upper-cased: lr and LR would set one variable.
    if (key === '__proto__') throw new SweepError('__proto__ is not a parameter name');
    const twin = seen.get(key.toUpperCase());
    if (twin !== undefined)
      throw new SweepError(`parameter ${key} is given twice${twin === key ? '' : ` (as ${twin})`}`);
    seen.set(key.toUpperCase(), key);
  }
}

function parseFactor(text: string): SweepFactor {
  if (!text) throw new SweepError('an empty part between ";": write key=value,value; key=value,…');
  const zipped = ZIP.exec(text);
  if (zipped) return parseZip(zipped[1]);
  if (/^zip\b/.test(text)) throw new SweepError(`"${text}": write zip(key=value,…; key=value,…)`);
  const [axis] = parseAxes(text, false);
  return { keys: [axis.key], rows: axis.values.map((value) => [value]) };
}

function parseZip(inner: string): SweepFactor {
  const axes = splitOutside(inner, ';').flatMap((part) => parseAxes(part.trim(), true));
  if (axes.length < 2) throw new SweepError(`zip(${inner}) pairs one parameter: give two or more, or drop zip`);
  const length = axes[0].values.length;
  const uneven = axes.find((axis) => axis.values.length !== length);
  if (uneven) {
    const counts = axes.map((axis) => `${axis.key} has ${axis.values.length}`).join(', ');
    throw new SweepError(`zip pairs values by position, so its lists must be as long: ${counts}`);
  }
  return {
    keys: axes.map((axis) => axis.key),
    rows: Array.from({ length }, (_, row) => axes.map((axis) => axis.values[row])),
  };
}

interface Axis {
  key: string;
  values: string[];
}

/**
 * `lr=1e-3,3e-4`: one parameter and its values. Inside zip, `a=1,2, b=3,4` also starts a new parameter at each
 * `key=`; outside, parameters are separated by `;` only.
 */
function parseAxes(text: string, inZip: boolean): Axis[] {
  if (!text) throw new SweepError('an empty part between ";": write key=value,value; key=value,…');
  const axes: Axis[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const equals = item.indexOf('=');
    if (equals >= 0) {
      const key = item.slice(0, equals).trim();
      if (axes.length && !inZip) {
        throw new SweepError(`"${text}": separate parameters with ";" (${axes[0].key}=…; ${key}=…)`);
      }
      if (!KEY.test(key)) {
        throw new SweepError(`"${item}": a parameter name is letters, digits and _, not starting with a digit`);
      }
      axes.push({ key, values: [] });
      addValue(axes[axes.length - 1], item.slice(equals + 1).trim());
    } else {
      if (!axes.length) throw new SweepError(`"${text}": write key=value,value,… (no parameter name before "${item}")`);
      addValue(axes[axes.length - 1], item);
    }
  }
  return axes;
}

function addValue(axis: Axis, value: string): void {
  if (!value) throw new SweepError(`${axis.key} has an empty value: write ${axis.key}=a,b,c`);
  if (/[=;()]/.test(value)) throw new SweepError(`${axis.key}: the value "${value}" may not hold = ; ( or )`);
  const range = RANGE.exec(value);
  if (range) {
    const [first, last] = [Number(range[1]), Number(range[2])];
    if (first > last) throw new SweepError(`${axis.key}=${value}: a range a..b counts up, so a ≤ b`);
    // Bounded before it is written out: `seed=1..1000000000` must be refused, not allocated.
    if (last - first >= DEFAULT_MAX_EXPERIMENTS * 100) {
      throw new SweepError(`${axis.key}=${value} has ${last - first + 1} values, too many for one sweep`);
    }
    // `01..10` keeps its zeros, as `seq -w` does: file names made from it sort as numbers.
    const digits = (bound: string) => bound.replace('-', '');
    const padded = [range[1], range[2]].some((bound) => /^0\d/.test(digits(bound)));
    const width = padded ? Math.max(digits(range[1]).length, digits(range[2]).length) : 0;
    const written = (n: number) => `${n < 0 ? '-' : ''}${String(Math.abs(n)).padStart(width, '0')}`;
    for (let value = first; value <= last; value++) axis.values.push(written(value));
    return;
  }
  if (NON_INTEGER_RANGE.test(value)) {
    throw new SweepError(`${axis.key}=${value}: ranges are integers: write the values (${axis.key}=0.1,0.2,…)`);
  }
  // `1..`, `..3`, `a..c`, `1..3..5`: a range mistyped would run as one odd value; a path (`../data`) is a value.
  if (value.includes('..') && !value.includes('/')) {
    throw new SweepError(`${axis.key}=${value} is not a range: write a..b with two integers (${axis.key}=1..5)`);
  }
  axis.values.push(value);
}

/** Splits at `separator` outside parentheses. */
function splitOutside(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    if (depth < 0) throw new SweepError(`"${text}": a ")" without its "("`);
    if (text[i] === separator && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new SweepError(`"${text}": a "(" without its ")"`);
  parts.push(text.slice(start));
  // A trailing ";" is forgiven: `Sweep: lr=1,2;`
  return parts.length > 1 && !parts[parts.length - 1].trim() ? parts.slice(0, -1) : parts;
}

/** How many members the sweep has, computed without expanding it. */
export function sweepSize(sweep: Sweep): number {
  return sweep.factors.reduce((product, factor) => product * factor.rows.length, 1);
}

/** Every member's parameters, in declared order: the first factor varies slowest, as nested loops would. */
export function expandSweep(sweep: Sweep): SweepParams[] {
  let members: SweepParams[] = [{}];
  for (const factor of sweep.factors) {
    members = members.flatMap((params) =>
      factor.rows.map((row) => {
        const next = { ...params };
        factor.keys.forEach((key, index) => (next[key] = row[index]));
        return next;
      }),
    );
  }
  return members;
}

/** The members' names, each checked: too long, or two values made the same by `safeValue`, is a SweepError. */
export function memberNames(scriptName: string, members: SweepParams[]): string[] {
  const seen = new Map<string, SweepParams>();
  return members.map((params) => {
    const name = memberName(scriptName, params);
    if (name.length > MAX_MEMBER_NAME) {
      throw new SweepError(`the member name ${name} is longer than ${MAX_MEMBER_NAME} characters: use shorter values`);
    }
    const twin = seen.get(name);
    if (twin) {
      const differ = Object.keys(params).filter((key) => params[key] !== twin[key]);
      const values = differ.map((key) => `${key}=${twin[key]} and ${key}=${params[key]}`).join(', ');
      throw new SweepError(`${values} both name the member ${name} (${unsafeRule})`);
    }
    seen.set(name, params);
    return name;
  });
}

const unsafeRule =
  'in a name, every character but letters, digits, ".", "-" and "+" becomes "_", and so does each dot of a ".."';

/** `Args: --lr {lr} --seed={seed}`: its words, each with `{key}` places. */
export type ArgsTemplate = string[];

const PLACE = /\{([^{}]*)\}/g;

export function parseArgsTemplate(text: string): ArgsTemplate {
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (!words.length) throw new SweepError('the Args: line is empty: write e.g. Args: --lr {lr} --seed {seed}');
  return words;
}

/** Every `{key}` of the template must be a parameter of the sweep. */
export function checkArgsTemplate(template: ArgsTemplate, keys: readonly string[]): void {
  for (const word of template) {
    for (const [, key] of word.matchAll(PLACE)) {
      if (!keys.includes(key)) {
        const known = keys.length ? `its parameters are ${keys.join(', ')}` : 'it has no parameters';
        throw new SweepError(`Args: {${key}} is not a parameter of the sweep (${known})`);
      }
    }
  }
}

/** A member's arguments: its template filled in, or `--<key> <value>` per parameter in declared order. */
export function argsOf(params: SweepParams, template?: ArgsTemplate): string[] {
  if (!template) return Object.entries(params).flatMap(([key, value]) => [`--${key}`, value]);
  return template.map((word) => word.replace(PLACE, (place, key: string) => params[key] ?? place));
}

/** `STAGED_PARAM_<KEY>=<value>` for each parameter (keys upper-cased); nothing for a plain script. */
export function paramsEnvironment(params: SweepParams | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(params ?? {}).map(([key, value]) => [`STAGED_PARAM_${key.toUpperCase()}`, value]),
  );
}

const SWEEP_LINE = /^[\s#*-]*sweep\s*:\s*(.*?)\s*$/gim;
const ARGS_LINE = /^[\s#*-]*args\s*:\s*(.*?)\s*$/gim;

/** A script's `Sweep:` lines (joined) and `Args:` line, each with the 1-based line of the source it is on. */
export interface SweepLines {
  sweep?: { sweep: Sweep; line: number };
  args?: { template: ArgsTemplate; line: number };
}

/** Reads the lines from a script's describing text; a SweepLineError carries the line of the bad one. */
export function sweepLinesOf(text: string, source: string): SweepLines {
  const found: SweepLines = {};
  const sweeps: Sweep[] = [];
  for (const match of text.matchAll(SWEEP_LINE)) {
    const line = lineOf(source, match[0].trim());
    sweeps.push(atLine(line, () => parseSweep(match[1])));
    found.sweep ??= { sweep: sweeps[0], line };
  }
  if (sweeps.length > 1)
    found.sweep = { sweep: atLine(found.sweep!.line, () => joinSweeps(sweeps)), line: found.sweep!.line };
  const args = argsLineOf(text, source);
  if (args && found.sweep) atLine(args.line, () => checkArgsTemplate(args.template, sweepKeys(found.sweep!.sweep)));
  if (args) found.args = args;
  return found;
}

/** A script's `Args:` line, read again by the worker that starts a member. */
export function argsLineOf(text: string, source: string): SweepLines['args'] {
  const args = [...text.matchAll(ARGS_LINE)];
  if (args.length > 1) throw new SweepLineError(lineOf(source, args[1][0].trim()), 'a script has one Args: line');
  if (!args.length) return undefined;
  const line = lineOf(source, args[0][0].trim());
  return { template: atLine(line, () => parseArgsTemplate(args[0][1])), line };
}

export class SweepLineError extends SweepError {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

function atLine<T>(line: number, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof SweepError && !(err instanceof SweepLineError)) throw new SweepLineError(line, err.message);
    throw err;
  }
}

function lineOf(source: string, text: string): number {
  return source.split('\n').findIndex((line) => line.includes(text)) + 1;
}

export function sweepKeys(sweep: Sweep): string[] {
  return sweep.factors.flatMap((factor) => factor.keys);
}
