/**
 * The `staged` command line from tests: in-process through runCli, the function the binary runs, or as the
 * binary itself (a Node process). Both answer as execa does: exit code, stdout and stderr without the final newline.
 */
import { format } from 'node:util';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { runCli } from '../../src/cli/main.js';

export const CLI = fileURLToPath(new URL('../../src/client.js', import.meta.url));

export interface CliOptions {
  cwd: string;
  /** Set on top of this process's environment, as execa does. */
  env?: Record<string, string>;
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `staged <args>` as a Node process. */
export async function stagedBinary(args: string[], { cwd, env }: CliOptions): Promise<CliResult> {
  const { exitCode, stdout, stderr } = await execa(process.execPath, [CLI, ...args], { cwd, env, reject: false });
  return { exitCode: exitCode ?? -1, stdout: String(stdout), stderr: String(stderr) };
}

const CONSOLE_METHODS = ['log', 'info', 'debug', 'warn', 'error'] as const;
const TO_STDERR: ReadonlySet<string> = new Set(['warn', 'error']);

/** Puts `value` in place of `target[key]`; the function returned puts back what was there. */
function replace(target: object, key: string, value: unknown): () => void {
  const own = Object.getOwnPropertyDescriptor(target, key);
  Object.defineProperty(target, key, { value, configurable: true, writable: true });
  return () => (own ? Object.defineProperty(target, key, own) : Reflect.deleteProperty(target, key));
}

/** Sets an environment variable; the function returned puts back its value, or its absence. */
function setVariable(key: string, value: string): () => void {
  const before = process.env[key];
  process.env[key] = value;
  return () => {
    if (before === undefined) delete process.env[key];
    else process.env[key] = before;
  };
}

type Output = (stream: 'stdout' | 'stderr', text: string) => void;

/** A stream's write that hands the text to `output` and calls back as a stream does. */
function writeTo(stream: 'stdout' | 'stderr', output: Output) {
  return (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    output(stream, typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    if (done) process.nextTick(done);
    return true;
  };
}

/** Runs `run` with `argv` as process.argv, in `cwd`, with `env`, its output (streams, console) going to `output`. */
async function inProcess<T>(
  argv: string[],
  { cwd, env = {} }: CliOptions,
  output: Output,
  run: () => Promise<T>,
): Promise<T> {
  const restore = [
    replace(process, 'argv', argv),
    ...Object.entries(env).map(([key, value]) => setVariable(key, value)),
    replace(process.stdout, 'write', writeTo('stdout', output)),
    replace(process.stderr, 'write', writeTo('stderr', output)),
    ...CONSOLE_METHODS.map((method) =>
      replace(console, method, (...args: unknown[]) =>
        output(TO_STDERR.has(method) ? 'stderr' : 'stdout', `${format(...args)}\n`),
      ),
    ),
  ];
  const cwdBefore = process.cwd();
  process.chdir(cwd);
  try {
    return await run();
  } finally {
    process.chdir(cwdBefore);
    restore.reverse().forEach((putBack) => putBack());
  }
}

let previous: Promise<unknown> = Promise.resolve();

/**
 * Runs `staged <args>` in this process, as the binary would in `cwd` with `env`. Commands share the process's
 * directory, environment and output, so they run one at a time, whatever the tests calling them do.
 */
export function staged(args: string[], options: CliOptions): Promise<CliResult> {
  const call = previous.then(async () => {
    const text = { stdout: '', stderr: '' };
    const argv = [process.execPath, CLI, ...args];
    const exitCode = await inProcess(
      argv,
      options,
      (stream, chunk) => (text[stream] += chunk),
      () => runCli(argv),
    );
    const trim = (output: string) => output.replace(/\n$/, '');
    return { exitCode, stdout: trim(text.stdout), stderr: trim(text.stderr) };
  });
  previous = call.catch(() => undefined);
  return call;
}
