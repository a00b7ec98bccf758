/** The option table is the only place an option is declared: every option reaches its command, parsed once. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { COMMANDS, type CommandName } from '../../src/cli/command-table.js';
import { OPTIONS, type OptionName } from '../../src/cli/options.js';
import { buildCommand, optionsOf } from '../../src/cli/program.js';
import { parseInteger } from '../../src/parse/integer.js';
import { toBatchSettings } from '../../src/cli/batch-settings.js';

/** A value for every option, unlike its default; the Record type makes a new option need one here. */
const SAMPLES: Record<OptionName, { argv: string[]; value: unknown }> = {
  workDir: { argv: ['--work-dir', 'w'], value: 'w' },
  json: { argv: ['--json'], value: true },
  dir: { argv: ['--dir', 'exps'], value: 'exps' },
  priority: { argv: ['--priority', 'high'], value: 'high' },
  experiments: { argv: ['--experiments', 'exp1,exp2'], value: 'exp1,exp2' },
  rerunFailed: { argv: ['--rerun-failed', 'b-1'], value: 'b-1' },
  skipCompleted: { argv: ['--skip-completed'], value: true },
  sweep: { argv: ['--sweep', 'lr=1,2', '--sweep', 'seed=1..3'], value: ['lr=1,2', 'seed=1..3'] },
  maxExperiments: { argv: ['--max-experiments', '20000'], value: 20_000 },
  maxConcurrent: { argv: ['--max-concurrent', '7'], value: 7 },
  maxRetries: { argv: ['--max-retries', '0'], value: 0 },
  retryDelay: { argv: ['--retry-delay', '1m'], value: 60_000 },
  timeout: { argv: ['--timeout', '2h'], value: 7_200_000 },
  retryTimeouts: { argv: ['--retry-timeouts'], value: true },
  heartbeatTimeout: { argv: ['--heartbeat-timeout', '45s'], value: 45_000 },
  killGrace: { argv: ['--kill-grace', '5s'], value: 5_000 },
  batchId: { argv: ['--batch-id', 'nightly.1'], value: 'nightly.1' },
  historyLimit: { argv: ['--history-limit', '500'], value: 500 },
  notifyCmd: { argv: ['--notify-cmd', 'echo $STAGED_EVENT'], value: 'echo $STAGED_EVENT' },
  signalBefore: { argv: ['--signal-before', '5m'], value: 300_000 },
  warnSignal: { argv: ['--warn-signal', 'usr2'], value: 'SIGUSR2' },
  maxRequeues: { argv: ['--max-requeues', '7'], value: 7 },
  detach: { argv: ['--detach'], value: true },
  dryRun: { argv: ['--dry-run'], value: true },
  snapshot: { argv: ['--snapshot'], value: true },
  snapshotLimit: { argv: ['--snapshot-limit', '1G'], value: 1024 ** 3 },
  statusInterval: { argv: ['--status-interval', '5s'], value: 5_000 },
  members: { argv: ['--members'], value: true },
  experiment: { argv: ['--experiment', 'exp3'], value: 'exp3' },
  hold: { argv: ['--hold'], value: true },
  release: { argv: ['--release'], value: true },
  after: { argv: ['--after', 'exp1,exp2'], value: 'exp1,exp2' },
  attempt: { argv: ['--attempt', '2'], value: 2 },
  follow: { argv: ['-f'], value: true },
  port: { argv: ['--port', '17233'], value: 17_233 },
  uiPort: { argv: ['--ui-port', '18233'], value: 18_233 },
  metricsPort: { argv: ['--metrics-port', '19233'], value: 19_233 },
  dbFile: { argv: ['--db-file', 'x.db'], value: 'x.db' },
  retention: { argv: ['--retention', '2d'], value: 172_800_000 },
  host: { argv: ['--host', '10.0.0.2'], value: '10.0.0.2' },
  postgresPort: { argv: ['--postgres-port', '15432'], value: 15_432 },
  slots: { argv: ['--slots', '5'], value: 5 },
  taskQueue: { argv: ['--task-queue', 'q'], value: 'q' },
  allQueues: { argv: ['--all-queues'], value: true },
  logLimit: { argv: ['--log-limit', '16'], value: 16 },
  adoptWindow: { argv: ['--adopt-window', '90s'], value: 90_000 },
  onShutdown: { argv: ['--on-shutdown', 'stop'], value: 'stop' },
  machineId: { argv: ['--machine-id', 'gpu-1'], value: 'gpu-1' },
  allowDir: { argv: ['--allow-dir', '/a', '/b'], value: ['/a', '/b'] },
  runsDir: { argv: ['--runs-dir', '/r'], value: '/r' },
  metrics: { argv: ['--metrics', '0.0.0.0:9464'], value: '0.0.0.0:9464' },
  resources: {
    argv: ['--resources', 'GPU=2,mem=64G,avx512'],
    value: { counted: { gpu: 2, mem: 64 * 1024 ** 3 }, capabilities: ['avx512'] },
  },
};

const REQUIRED_ARGS: Partial<Record<CommandName, string[]>> = {
  watch: ['b-1'],
  cancel: ['b-1'],
  add: ['b-1', 'exp1.sh'],
  change: ['b-1'],
  pause: ['b-1'],
  resume: ['b-1'],
  logs: ['b-1', 'exp1'],
  quota: ['show'],
  cluster: ['status'],
};

function parse(name: CommandName, argv: string[]) {
  const command = buildCommand(name).exitOverride();
  command.parse([...(REQUIRED_ARGS[name] ?? []), ...argv], { from: 'user' });
  return optionsOf(name, command) as Record<string, unknown>;
}

const commandNames = Object.keys(COMMANDS) as CommandName[];

test.each(commandNames)('every option declared for `%s` reaches its parsed options under its own name', (name) => {
  const declared: readonly OptionName[] = COMMANDS[name].options;
  const parsed = parse(
    name,
    declared.flatMap((option) => SAMPLES[option].argv),
  );
  for (const option of declared) expect([option, parsed[option]]).toEqual([option, SAMPLES[option].value]);
  expect(Object.keys(parsed).sort()).toEqual([...declared].sort());
});

test('every option in the table is used by some command', () => {
  const used = new Set(commandNames.flatMap((name): readonly string[] => COMMANDS[name].options));
  expect(Object.keys(OPTIONS).filter((option) => !used.has(option))).toEqual([]);
});

test('change keeps no default for the limits it changes: absent unless given', () => {
  const parsed = parse('change', ['exp1', '--hold']);
  expect(parsed.maxConcurrent).toBeUndefined();
  expect(parsed.maxRetries).toBeUndefined();
  expect(buildCommand('change').helpInformation()).toMatch(
    /--max-concurrent <n> +experiments of this batch running at once, from now on/,
  );
});

test('defaults come from the table: submit with no options gets them parsed', () => {
  const parsed = parse('submit', []);
  expect(parsed).toMatchObject({
    maxConcurrent: 3,
    maxRetries: 2,
    retryDelay: 10_000,
    heartbeatTimeout: 30_000,
    json: false,
  });
  expect(parsed.timeout).toBeUndefined();
});

describe('one integer parser for every command and the worker', () => {
  test.each(['0x2', '1e3', '2.0', ' 3', '3 ', '', '+3', '9007199254740993'])('"%s" is refused everywhere', (text) => {
    expect(() => parse('submit', ['--max-concurrent', text])).toThrow(
      `--max-concurrent must be an integer ≥ 1 (got "${text}")`,
    );
    expect(() => parse('worker', ['--slots', text])).toThrow(`--slots must be an integer ≥ 1 (got "${text}")`);
    expect(() => parse('server', ['--port', text])).toThrow('--port must be an integer from 1 to 65535');
    expect(() => parse('logs', ['--attempt', text])).toThrow('--attempt must be an integer ≥ 1');
  });
  test('limits are inclusive', () => {
    expect(parseInteger('1', { min: 1, max: 65_535 })).toBe(1);
    expect(parseInteger('65535', { min: 1, max: 65_535 })).toBe(65_535);
    expect(() => parseInteger('65536', { min: 1, max: 65_535 })).toThrow('from 1 to 65535');
  });
});

test('every problem is reported at once, each naming its option and value', () => {
  expect(() => parse('submit', ['--max-concurrent', '0', '--timeout', 'soon'])).toThrow(
    '--max-concurrent must be an integer ≥ 1 (got "0")\n--timeout: "soon" is not a duration',
  );
});

test('--metrics takes an IP address and port, or a port on 127.0.0.1; a host name or a bad port is refused', () => {
  expect(parse('worker', ['--metrics', '9464']).metrics).toBe('127.0.0.1:9464');
  expect(parse('worker', ['--metrics', 'localhost:9464']).metrics).toBe('127.0.0.1:9464');
  expect(parse('worker', ['--metrics', '[::1]:9464']).metrics).toBe('[::1]:9464');
  expect(parse('worker', []).metrics).toBeUndefined();
  expect(() => parse('worker', ['--metrics', 'metrics.example:9464'])).toThrow('--metrics must name an IP address');
  expect(() => parse('worker', ['--metrics', '127.0.0.1:70000'])).toThrow('--metrics must be HOST:PORT or PORT');
});

test('an unknown choice is refused with the choices', () => {
  expect(() => parse('worker', ['--on-shutdown', 'pause'])).toThrow(
    '--on-shutdown must be one of leave, stop (got "pause")',
  );
});

test('every command has the npm script of its name, which hints like `npm run watch -- <id>` rely on', async () => {
  const packageFile = fileURLToPath(new URL('../../../package.json', import.meta.url));
  const { scripts } = JSON.parse(await readFile(packageFile, 'utf8')) as { scripts: Record<string, string> };
  for (const name of commandNames) {
    const runs = name === 'worker' ? /dist\/src\/worker\.js$/ : new RegExp(`dist/src/client\\.js ${name}$`);
    expect([name, scripts[name]]).toEqual([name, expect.stringMatching(runs)]);
  }
});

test('commands that address a task queue take --task-queue (env STAGED_TASK_QUEUE), explained in --help', () => {
  const withQueue = commandNames.filter((name) => (COMMANDS[name].options as readonly string[]).includes('taskQueue'));
  expect(withQueue.sort()).toEqual(['quota', 'status', 'submit', 'worker']);
  for (const name of withQueue) {
    const help = buildCommand(name).helpInformation().replace(/\s+/g, ' ');
    expect([name, help]).toEqual([name, expect.stringMatching(/--task-queue <name> .*\(env STAGED_TASK_QUEUE\)/)]);
    expect(parse(name, ['--task-queue', 'gpu-box']).taskQueue).toBe('gpu-box');
  }
  expect(toBatchSettings(parse('submit', ['--task-queue', 'gpu-box']) as never, '/w', false).taskQueue).toBe('gpu-box');
  const before = process.env.STAGED_TASK_QUEUE;
  process.env.STAGED_TASK_QUEUE = 'from-env';
  try {
    expect(parse('submit', []).taskQueue).toBe('from-env');
    expect(parse('status', []).taskQueue).toBe('from-env');
  } finally {
    if (before === undefined) delete process.env.STAGED_TASK_QUEUE;
    else process.env.STAGED_TASK_QUEUE = before;
  }
});
