/**
 * The `staged` command line's answers that need no server: bad input (options, directory, batch id), the dry run,
 * error lines. Each runs with TEMPORAL_ADDRESS where nothing listens: an answer that asked a server first would
 * say so instead. The commands run in-process (runCli, what the binary runs), one at a time; two checks are also
 * made as the binary, for its exit code and output, and one runs only as the binary (see there why).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { staged as stagedIn, stagedBinary, type CliOptions, type CliResult } from '../helpers/cli.js';
import { readJournal, tempDir, writeScript } from '../helpers/scripts.js';

const EXAMPLES = fileURLToPath(new URL('../../../experiments', import.meta.url));
const NO_SERVER = '127.0.0.1:1';

type Run = (args: string[], options: CliOptions) => Promise<CliResult>;

function staged(args: string[], options: Partial<CliOptions> = {}, run: Run = stagedIn) {
  return run(args, {
    cwd: options.cwd ?? path.dirname(EXAMPLES),
    env: { TEMPORAL_ADDRESS: NO_SERVER, ...options.env },
  });
}

describe('bad input: one clear message, exit code 2, before any server is asked', () => {
  test.each([
    ['an unknown experiment id', ['--experiments', 'exp999'], 'unknown experiment: exp999'],
    ['an unknown id in a list', ['--experiments', 'exp125,exp998,exp126'], 'unknown experiment: exp998'],
    ['--max-concurrent 0', ['--max-concurrent', '0'], '--max-concurrent must be an integer ≥ 1 (got "0")'],
    ['--max-concurrent negative', ['--max-concurrent', '-3'], '--max-concurrent must be an integer ≥ 1'],
    ['--max-concurrent not an integer', ['--max-concurrent', '2.5'], '--max-concurrent must be an integer ≥ 1'],
    ['--max-retries negative', ['--max-retries', '-1'], '--max-retries must be an integer ≥ 0'],
    ['--max-retries not an integer', ['--max-retries', 'many'], '--max-retries must be an integer ≥ 0'],
    ['an unknown priority level', ['--priority', 'urgent'], 'unknown priority level "urgent"'],
    ['a missing --dir', ['--dir', 'no-such-dir'], 'experiments directory not found'],
    [
      'a selection that matches nothing',
      ['--experiments', 'exp134', '--priority', 'high'],
      'the selection matches no experiment',
    ],
    ['a --timeout that does not parse', ['--timeout', '90 minutes'], '--timeout: "90 minutes" is not a duration'],
    ['a --timeout longer than a timer holds', ['--timeout', '30d'], '--timeout: "30d" is too long: at most 24.8 days'],
    [
      'a --heartbeat-timeout under 2s',
      ['--heartbeat-timeout', '1s', '--kill-grace', '500ms'],
      '--heartbeat-timeout must be at least 2s: twice the 1-s minimum heartbeat interval',
    ],
    [
      'a --kill-grace not under --heartbeat-timeout',
      ['--kill-grace', '30s'],
      'a stopped run must be dead before its worker is declared lost',
    ],
    ['an unknown option', ['--max-concurent', '3'], "unknown option '--max-concurent'"],
  ])('%s', async (_label, args, message) => {
    const result = await staged(['submit', ...args]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(message);
  });

  test('an experiments directory with no scripts: said so, not "the selection matches no experiment"', async () => {
    const dir = await tempDir('no-scripts');
    await mkdir(path.join(dir, 'experiments'));
    await writeFile(path.join(dir, 'experiments', 'notes.txt'), 'not a script\n');
    await writeFile(path.join(dir, 'experiments', '_helper.py'), 'x = 1\n');
    const result = await staged(['submit'], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`no experiments in ${path.join(dir, 'experiments')}: it holds no *.py file`);
  });

  test('status with --all-queues and --task-queue: one or the other, before any server is asked', async () => {
    const result = await staged(['status', '--all-queues', '--task-queue', 'gpu']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--all-queues lists every task queue and --task-queue one of them');
  });

  test('an explicit address where no server answers', async () => {
    const result = await staged(['submit', '--priority', 'high']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('no Temporal server answers at 127.0.0.1:1');
  });
});

/** The checks that also run as the binary: its exit code, and its output as a pipe gets it. */
const WAYS: [string, Run][] = [
  ['in-process', stagedIn],
  ['as the binary', stagedBinary],
];

test.each(WAYS)(
  '--dry-run --json lists the queue in start order with priorities and reasons, and starts nothing (%s)',
  async (_way, run) => {
    const result = await staged(['submit', '--dry-run', '--json', '--priority', 'high'], {}, run);
    expect(result.exitCode).toBe(0);
    const { experiments } = JSON.parse(String(result.stdout));
    expect(experiments.map((e: { priority: string }) => e.priority)).toEqual([
      'critical',
      'critical',
      'critical',
      'high',
      'high',
      'high',
      'high',
      'high',
    ]);
    expect(experiments[3]).toEqual({
      id: 'exp125',
      name: 'exp125_adaptive_stop_loss',
      priority: 'high',
      reason: 'keyword "adaptive" in summary matched "Adaptive"',
    });
  },
);

describe('error paths: one readable line, no stack trace, and a JSON error with --json', () => {
  test.each(WAYS)(
    '--json on bad input prints {"error": …} on stdout and the line on stderr (%s)',
    async (_way, run) => {
      const result = await staged(['submit', '--json', '--max-concurrent', '0'], {}, run);
      expect(result.exitCode).toBe(2);
      expect(JSON.parse(String(result.stdout))).toEqual({
        error: { message: '--max-concurrent must be an integer ≥ 1 (got "0")', exitCode: 2 },
      });
      expect(result.stderr).toBe('staged: --max-concurrent must be an integer ≥ 1 (got "0")');
    },
  );

  test('two experiment files with one name: exit 2 at submit naming both', async () => {
    const dir = await tempDir('cli-dup');
    await writeScript(dir, 'exp6_dup', path.join(dir, '_journal'));
    await writeFile(path.join(dir, 'exp6_dup.py'), '"""Duplicate."""\n');
    const result = await staged(['submit', '--dir', dir, '--json'], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      `${path.join(dir, 'exp6_dup.py')} and ${path.join(dir, 'exp6_dup.sh')} have the same name "exp6_dup"`,
    );
    expect(JSON.parse(String(result.stdout)).error.exitCode).toBe(2);
  });

  test('a server that accepts connections and never answers', async () => {
    const silent = createServer(() => undefined); // holds every connection open without a byte
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      // As the binary: status's reads, given up with the connection, leave a gRPC retry timer that only the
      // process's exit ends (in-process it throws 'Channel has been shut down' into whatever runs next).
      const result = await staged(['status', 'some-batch'], { env: { TEMPORAL_ADDRESS: address } }, stagedBinary);
      expect(result.exitCode).toBe(2);
      expect(result.stderr.split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(
        new RegExp(`^staged: (no Temporal server answers at|the Temporal server at) ${address}`),
      );
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      silent.close();
    }
  });
});

describe('bad input in the experiments directory or the batch id: exit 2, a message naming it', () => {
  test.each([
    [
      'a script that is a directory',
      async (dir: string) => mkdir(path.join(dir, 'exp2_dir.py')),
      /exp2_dir\.py is a directory, not a script/,
    ],
    [
      'a docstring that is not valid UTF-8',
      async (dir: string) => writeFile(path.join(dir, 'exp2_latin1.py'), Buffer.from('"""Caf\xe9"""\n', 'latin1')),
      /exp2_latin1\.py: its docstring is not valid UTF-8/,
    ],
    [
      'a malformed Priority line',
      async (dir: string) => writeFile(path.join(dir, 'exp2_bad.py'), '"""Title\n\nPriority: asap\n"""\n'),
      /exp2_bad\.py: malformed line "Priority: asap": the level must be one of critical, high, medium, low/,
    ],
  ])('%s', async (_label, breakIt, message) => {
    const dir = await tempDir('bad-dir');
    await writeScript(dir, 'exp1_ok', path.join(dir, '_journal'));
    await breakIt(dir);
    const result = await staged(['submit', '--dir', dir], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  test.each([
    ['Requires: gpu=two', /exp11_draft\.py:3: malformed line "Requires: gpu=two"/],
    ['Sweep: lr=0.1..0.5', /exp11_draft\.py:3: lr=0\.1\.\.0\.5: ranges are integers/],
  ])('a draft with a malformed %j line stops only a submit that selects it', async (line, message) => {
    const dir = await tempDir('draft-dir');
    await writeScript(dir, 'exp1_ok', path.join(dir, '_journal'));
    await writeFile(path.join(dir, 'exp11_draft.py'), `"""Draft.\n\n${line}\n"""\n`);
    const other = await staged(['submit', '--dir', dir, '--experiments', 'exp1', '--dry-run'], { cwd: dir });
    expect([other.exitCode, other.stderr]).toEqual([0, '']);
    expect(other.stdout).toContain('exp1_ok');
    for (const selection of [[], ['--experiments', 'exp11']]) {
      const result = await staged(['submit', '--dir', dir, ...selection], { cwd: dir });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(message);
    }
    expect(await readJournal(path.join(dir, '_journal'))).toHaveLength(0);
  });

  test.each(['a/b', 'has space', '-leading-dash', 'x'.repeat(101), 'ünïcode'])('batch id %j', async (batchId) => {
    const dir = await tempDir('bad-id');
    await writeScript(dir, 'exp1_ok', path.join(dir, '_journal'));
    const result = await staged(['submit', '--dir', dir, '--batch-id', batchId], { cwd: dir });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--batch-id may use letters, digits');
    expect(await readJournal(path.join(dir, '_journal'))).toHaveLength(0);
  });
});
