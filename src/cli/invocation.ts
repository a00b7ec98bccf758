/**
 * How the user ran staged: the directory they ran it in, and the command line that runs another
 * staged command the same way (`npm run watch -- X`, `npx staged watch X`, `staged watch X`).
 */
import path from 'node:path';
import { COMMANDS } from './command-table.js';
import { taskQueueSetting } from '../settings.js';

/** staged's own npm scripts are named as its commands (package.json). */
const OWN_SCRIPTS: ReadonlySet<string> = new Set(Object.keys(COMMANDS));

export interface Invocation {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** process.argv[1]: the script node runs (a `staged` bin link, or dist/src/client.js). */
  script: string | undefined;
}

const current = (): Invocation => ({ env: process.env, cwd: process.cwd(), script: process.argv[1] });

/** True when this process is an npm script of the package in whose root it runs (npm changed directory). */
function runByNpmScript({ env, cwd }: Invocation): boolean {
  if (!env.npm_lifecycle_event || !env.npm_package_json) return false;
  return path.resolve(path.dirname(env.npm_package_json)) === path.resolve(cwd);
}

/**
 * The directory the user ran the command in. `npm run` changes to the package root and passes the
 * user's directory as INIT_CWD; INIT_CWD is inherited by every descendant, so it is trusted only
 * when this process is that npm script itself.
 */
export function userDirectory(invocation: Invocation = current()): string {
  const { env, cwd } = invocation;
  return runByNpmScript(invocation) && env.INIT_CWD ? path.resolve(env.INIT_CWD) : cwd;
}

/** The work dir: `--work-dir` (relative to the user's directory), else the user's directory. */
export function resolveWorkDir(workDirFlag: string | undefined, invocation: Invocation = current()): string {
  const base = userDirectory(invocation);
  return workDirFlag ? path.resolve(base, workDirFlag) : base;
}

/** The command line that runs `staged <command> <args>` the way this one was run. */
export function commandHint(command: string, args: string[] = [], invocation: Invocation = current()): string {
  const { env, script } = invocation;
  const rest = args.map(shellWord).join(' ');
  if (runByNpmScript(invocation) && env.npm_package_name === 'staged' && OWN_SCRIPTS.has(env.npm_lifecycle_event!)) {
    return `${npmRunFrom(invocation)} ${command}${rest ? ` -- ${rest}` : ''}`;
  }
  const tail = `${command}${rest ? ` ${rest}` : ''}`;
  if (!script || path.basename(script) === 'staged') {
    // A project's node_modules/.bin is on PATH only inside npm: from a shell it is `npx staged`.
    const local = script !== undefined && path.basename(path.dirname(script)) === '.bin';
    return `${local ? 'npx ' : ''}staged ${tail}`;
  }
  const relative = path.relative(invocation.cwd, script);
  return `node ${shellWord(relative && !relative.startsWith('..') ? relative : script)} ${tail}`;
}

/**
 * An argument as a shell takes it whole and as written: quoted when it holds anything a shell reads otherwise (a sweep
 * member's `exp7[lr=1e-4]` is a glob). A `<placeholder>` stays as it is, for the user to replace.
 */
export function shellWord(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg) || /^<[\w-]+>$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

/** The command that starts a worker polling `taskQueue`: `--task-queue` only when a plain one would poll another. */
export function workerHint(taskQueue: string, invocation: Invocation = current()): string {
  const own = taskQueue === taskQueueSetting(invocation.env) ? [] : ['--task-queue', taskQueue];
  return commandHint('worker', own, invocation);
}

/** `npm run`, or `npm --prefix <staged> run` when the user is outside staged (npm finds no package there). */
function npmRunFrom(invocation: Invocation): string {
  const packageRoot = path.resolve(invocation.cwd);
  const fromPackage = path.relative(packageRoot, userDirectory(invocation));
  const inside = !fromPackage.startsWith('..') && !path.isAbsolute(fromPackage);
  return inside ? 'npm run' : `npm --prefix ${shellWord(packageRoot)} run`;
}
