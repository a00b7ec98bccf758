/**
 * staged's Python side of the quota budget (python/), without Temporal: real Python processes, a real simulated API
 * on 127.0.0.1 and a fake quota agent on a UNIX socket that grants every call to a declared quota and records it.
 */
import { createServer, type Server } from 'node:http';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, execaSync } from 'execa';
import { closeHttpServer } from '../helpers/http-servers.js';
import { RateLimitedApi, type RateLimitedApiOptions } from '../helpers/rate-limited-api.js';
import { tempDir } from '../helpers/scripts.js';

const PYTHON_DIR = fileURLToPath(new URL('../../../python', import.meta.url));
const TOKEN = 'run-secret-token';
// STAGED_TEST_PYTHON runs these tests under another interpreter, e.g. the oldest supported (3.8).
const PYTHON = execaSync(process.env.STAGED_TEST_PYTHON ?? 'python3', [
  '-c',
  'import sys; print(sys.executable)',
]).stdout;
const HAS_REQUESTS = execaSync(PYTHON, ['-c', 'import requests'], { reject: false }).exitCode === 0;

interface AgentCall {
  path: string;
  authorization?: string;
  body?: Record<string, unknown>;
  at: number;
  dropped: boolean;
}

interface FakeAgentOptions {
  quotas?: string[];
  /** Holds each grant this long, as an agent whose budget is spent does. */
  grantDelayMs?: number;
  /** Drops this many /acquire connections without an answer, as a worker that dies mid-wait does. */
  dropAcquires?: number;
  /** Answers this many /acquire with 503, as a worker that no longer holds the run (it waits to be adopted). */
  busyAcquires?: number;
}

/** The quota agent's protocol, with the simplest rule: every declared quota is granted at once. */
class FakeAgent {
  readonly calls: AgentCall[] = [];
  private server?: Server;
  private dropsLeft: number;
  private busyLeft: number;

  constructor(
    readonly socketPath: string,
    private readonly options: FakeAgentOptions = {},
  ) {
    this.dropsLeft = options.dropAcquires ?? 0;
    this.busyLeft = options.busyAcquires ?? 0;
  }

  async start(): Promise<void> {
    const quotas = this.options.quotas ?? ['fakeapi', 'x'];
    const server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        const call: AgentCall = {
          path: request.url ?? '',
          authorization: request.headers.authorization,
          at: Date.now(),
          dropped: false,
        };
        this.calls.push(call);
        const answer = (status: number, body?: object) => {
          response.writeHead(status, { 'content-type': 'application/json' });
          response.end(body === undefined ? undefined : JSON.stringify(body));
        };
        if (request.method !== 'POST' || !['/acquire', '/rate-limited'].includes(call.path)) return answer(404);
        if (call.authorization !== `Bearer ${TOKEN}`) return answer(401, { error: 'unknown token' });
        try {
          call.body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          return answer(400, { error: 'body is not JSON' });
        }
        const quota: unknown = call.body?.quota;
        if (typeof quota !== 'string' || !quotas.includes(quota)) {
          return answer(403, { error: `quota ${JSON.stringify(quota)} is not declared for this run` });
        }
        if (call.path === '/rate-limited') return answer(204);
        const calls: unknown = call.body?.calls;
        if (!Number.isInteger(calls) || (calls as number) < 1) return answer(400, { error: 'calls must be >= 1' });
        if (this.busyLeft > 0) {
          this.busyLeft--;
          call.dropped = true;
          return answer(503, { error: 'this run is held by another worker right now; ask again' });
        }
        if (this.dropsLeft > 0) {
          this.dropsLeft--;
          call.dropped = true;
          request.socket.destroy();
          return;
        }
        setTimeout(() => answer(200, { granted: calls }), this.options.grantDelayMs ?? 0);
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(this.socketPath, resolve));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await closeHttpServer(server);
  }

  acquires(): AgentCall[] {
    return this.calls.filter((call) => call.path === '/acquire' && !call.dropped);
  }

  rateLimited(): AgentCall[] {
    return this.calls.filter((call) => call.path === '/rate-limited');
  }
}

/** One test's directory, fake agent and simulated APIs: each test has its own, so that a few run at once. */
class QuotaTest {
  private readonly apis: RateLimitedApi[] = [];

  private constructor(
    readonly dir: string,
    public agent: FakeAgent,
  ) {}

  static async create(): Promise<QuotaTest> {
    const dir = await tempDir('quota-py');
    return new QuotaTest(dir, new FakeAgent(path.join(dir, 'agent.sock')));
  }

  async stop(): Promise<void> {
    await this.agent.stop();
    await Promise.all(this.apis.splice(0).map((api) => api.stop()));
  }

  async startedApi(
    options: RateLimitedApiOptions = { limit: 100, windowMs: 60_000 },
  ): Promise<{ api: RateLimitedApi; base: string }> {
    const api = new RateLimitedApi(options);
    this.apis.push(api);
    const { port } = await api.start();
    return { api, base: `http://127.0.0.1:${port}` };
  }

  /** A run's environment as staged gives it, metering `base`'s host:port as quota "fakeapi". */
  runEnvironment(base: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
    const environment: Record<string, string | undefined> = {
      PATH: `${path.join(PYTHON_DIR, 'bin')}:${path.dirname(PYTHON)}:/usr/bin:/bin`,
      PYTHONPATH: PYTHON_DIR,
      STAGED_QUOTA_SOCKET: this.agent.socketPath,
      STAGED_QUOTA_TOKEN: TOKEN,
      STAGED_QUOTA_HOSTS: JSON.stringify({ [new URL(base).host]: 'fakeapi' }),
      STAGED_QUOTA_AUTO: '1',
      ...extra,
    };
    return Object.fromEntries(
      Object.entries(environment).filter((entry): entry is [string, string] => entry[1] !== undefined),
    );
  }

  /** Starts a Python script made of `lines`: its process, to watch or to await (wrapped, as a promise would be). */
  async startPython(lines: string[], environment: Record<string, string>) {
    const script = path.join(this.dir, `script-${Date.now()}.py`);
    await writeFile(script, `${lines.join('\n')}\n`);
    return { python: execa(PYTHON, [script], { env: environment, extendEnv: false, reject: false }) };
  }

  async runPython(lines: string[], environment: Record<string, string>) {
    const { python } = await this.startPython(lines, environment);
    return await python;
  }

  /** Replaces the test's agent, not started yet, with one of these options, and starts it. */
  async startAgentWith(options: FakeAgentOptions): Promise<void> {
    this.agent = new FakeAgent(this.agent.socketPath, options);
    await this.agent.start();
  }

  /**
   * Runs a script while each grant takes 1.2 s and the API drops a kept-alive connection reused after 1 s idle (its
   * close crossing the request): whatever the timing, only a new connection after the wait is answered.
   */
  async runAcrossDroppedKeepAlive(script: (base: string) => string[]) {
    await this.startAgentWith({ grantDelayMs: 1200 });
    const { api, base } = await this.startedApi({ limit: 100, windowMs: 60_000, dropsReusedAfterIdleMs: 1_000 });
    return { api, result: await this.runPython(script(base), this.runEnvironment(base)) };
  }

  acquiredAt(api: RateLimitedApi): void {
    const requests = api.requests();
    const acquires = this.agent.acquires();
    expect(acquires).toHaveLength(requests.length);
    requests.forEach((request, i) => expect(acquires[i].at).toBeLessThanOrEqual(request.at));
  }
}

/**
 * A test with a QuotaTest of its own, stopped when it ends. The tests run a few at once: most of their time is
 * Python starting or a grant held on purpose.
 */
function quotaTest(name: string, body: (t: QuotaTest) => Promise<void>, declare = test.concurrent): void {
  declare(name, async () => {
    const t = await QuotaTest.create();
    try {
      await body(t);
    } finally {
      await t.stop();
    }
  });
}

/** The tests that need the requests package, skipped where it is not installed. */
const withRequests = HAS_REQUESTS ? test.concurrent : test.concurrent.skip;

/** Python that requests `first` from `base`, then `second`, and prints the HTTP status if that one is refused. */
function secondRequestRefused(base: string, first: string, second: string): string[] {
  return [
    'import urllib.error, urllib.request',
    `urllib.request.urlopen("${base}${first}").read()`,
    'try:',
    `    urllib.request.urlopen("${base}${second}")`,
    'except urllib.error.HTTPError as error:',
    '    print(error.code)',
  ];
}

quotaTest(
  '(a) urllib.request, http.client, no code change: one acquire per request to the mapped host only',
  async (t) => {
    await t.agent.start();
    const { api, base } = await t.startedApi();
    const { api: unmapped, base: otherBase } = await t.startedApi();
    const result = await t.runPython(
      [
        'import http.client, urllib.request',
        `for i in range(3): assert urllib.request.urlopen("${base}/u%d" % i).status == 200`,
        `assert urllib.request.urlopen("${otherBase}/unmapped").status == 200`,
        `connection = http.client.HTTPConnection("127.0.0.1", ${new URL(base).port})`,
        'for i in range(2):',
        '    connection.request("GET", "/kept-alive%d" % i)',
        '    assert connection.getresponse().read()',
      ],
      t.runEnvironment(base),
    );
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(api.requests().map((request) => request.path)).toEqual([
      '/u0',
      '/u1',
      '/u2',
      '/kept-alive0',
      '/kept-alive1',
    ]);
    expect(unmapped.requests()).toHaveLength(1);
    expect(t.agent.acquires().map((call) => call.body)).toEqual(Array(5).fill({ quota: 'fakeapi', calls: 1 }));
    expect(t.agent.acquires().every((call) => call.authorization === `Bearer ${TOKEN}`)).toBe(true);
    t.acquiredAt(api);
  },
);

quotaTest('a host-only entry meters every port of that host; a host:port entry wins over it', async (t) => {
  await t.agent.start();
  const { api, base } = await t.startedApi();
  const port = new URL(base).port;
  const hosts = JSON.stringify({ localhost: 'x', [`localhost:${port}`]: 'fakeapi', 'api.example.com': 'x' });
  const result = await t.runPython(
    [
      'import urllib.request',
      'from staged_quota import quota_for',
      `print(quota_for("LOCALHOST", ${port}), quota_for("localhost", 1), quota_for("api.example.com.", 443),`,
      '      quota_for("example.com", 443))',
      `urllib.request.urlopen("http://localhost:${port}/by-name").read()`,
    ],
    t.runEnvironment(base, { STAGED_QUOTA_HOSTS: hosts }),
  );
  expect(result.stderr).toBe('');
  expect(result.stdout).toBe('fakeapi x x None');
  expect(api.requests()).toHaveLength(1);
  expect(t.agent.acquires().map((call) => call.body)).toEqual([{ quota: 'fakeapi', calls: 1 }]);
});

quotaTest(
  '(b) requests (a kept-alive Session) and urllib3 directly: exactly one acquire per request, none doubled',
  async (t) => {
    await t.agent.start();
    const { api, base } = await t.startedApi();
    const { api: unmapped, base: otherBase } = await t.startedApi();
    const result = await t.runPython(
      [
        'import requests, urllib3',
        'session = requests.Session()',
        `for i in range(3): assert session.get("${base}/s%d" % i).status_code == 200`,
        'pool = urllib3.PoolManager()',
        `for i in range(2): assert pool.request("GET", "${base}/p%d" % i).status == 200`,
        `assert requests.get("${otherBase}/unmapped").status_code == 200`,
        'print(requests.__version__, urllib3.__version__)',
      ],
      t.runEnvironment(base),
    );
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(api.requests()).toHaveLength(5);
    expect(unmapped.requests()).toHaveLength(1);
    expect(t.agent.acquires().map((call) => call.body)).toEqual(Array(5).fill({ quota: 'fakeapi', calls: 1 }));
    t.acquiredAt(api);
  },
  withRequests,
);

quotaTest('(c) a 429 seen by urllib.request is reported with its Retry-After seconds', async (t) => {
  await t.agent.start();
  const { api, base } = await t.startedApi({ limit: 1, windowMs: 60_000, retryAfterSeconds: 7 });
  const result = await t.runPython(secondRequestRefused(base, '/first', '/second'), t.runEnvironment(base));
  expect(result.stderr).toBe('');
  expect(result.stdout).toBe('429');
  expect(api.rejections()).toHaveLength(1);
  expect(t.agent.acquires()).toHaveLength(2);
  expect(t.agent.rateLimited().map((call) => [call.authorization, call.body])).toEqual([
    [`Bearer ${TOKEN}`, { quota: 'fakeapi', retryAfterSeconds: 7 }],
  ]);
});

quotaTest(
  '(c) under requests with urllib3 retrying 429s: every attempt acquires, the 429 in between is reported',
  async (t) => {
    await t.agent.start();
    const { api, base } = await t.startedApi({ limit: 1, windowMs: 500, retryAfterSeconds: 1 });
    const result = await t.runPython(
      [
        'import requests',
        'from requests.adapters import HTTPAdapter',
        'from urllib3.util.retry import Retry',
        'session = requests.Session()',
        'session.mount("http://", HTTPAdapter(max_retries=Retry(total=2, status_forcelist=[429])))',
        `assert session.get("${base}/first").status_code == 200`,
        `print(session.get("${base}/retried").status_code)`,
      ],
      t.runEnvironment(base),
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('200');
    expect(api.requests().map((request) => [request.path, request.accepted])).toEqual([
      ['/first', true],
      ['/retried', false],
      ['/retried', true],
    ]);
    expect(t.agent.rateLimited().map((call) => call.body)).toEqual([{ quota: 'fakeapi', retryAfterSeconds: 1 }]);
    t.acquiredAt(api);
  },
  withRequests,
);

quotaTest('Retry-After as seconds, as an HTTP date, or garbage', async (t) => {
  const result = await t.runPython(
    [
      'import email.utils, json, time',
      'from staged_quota import retry_after_seconds',
      'now = time.time()',
      'date = email.utils.formatdate(now + 30, usegmt=True)',
      'print(json.dumps([retry_after_seconds(v, now=now) for v in ["120", " 2.5 ", date, "soon", "-3", None]]))',
    ],
    { PATH: '/usr/bin:/bin', PYTHONPATH: PYTHON_DIR },
  );
  expect(result.stderr).toBe('');
  const [seconds, fraction, fromDate, ...invalid] = JSON.parse(result.stdout);
  expect([seconds, fraction]).toEqual([120, 2.5]);
  // An HTTP date has whole seconds; `now` has a fraction.
  expect(fromDate).toBeGreaterThan(29);
  expect(fromDate).toBeLessThanOrEqual(30);
  expect(invalid).toEqual([null, null, null]);
});

quotaTest('(d) STAGED_QUOTA_AUTO=0 meters nothing, yet explicit acquire still works', async (t) => {
  await t.agent.start();
  const { api, base } = await t.startedApi({ limit: 1, windowMs: 60_000 });
  const result = await t.runPython(
    ['import staged_quota', ...secondRequestRefused(base, '/one', '/two'), 'staged_quota.acquire("x")'],
    t.runEnvironment(base, { STAGED_QUOTA_AUTO: '0' }),
  );
  expect(result.stderr).toBe('');
  expect(result.stdout).toBe('429');
  expect(api.requests()).toHaveLength(2);
  expect(t.agent.acquires().map((call) => call.body)).toEqual([{ quota: 'x', calls: 1 }]);
  expect(t.agent.rateLimited()).toEqual([]);
});

quotaTest('(e) a sitecustomize later on PYTHONPATH still runs, after ours, with metering on', async (t) => {
  await t.agent.start();
  const { api, base } = await t.startedApi();
  const theirs = path.join(t.dir, 'their-site');
  const marker = path.join(t.dir, 'marker.txt');
  await mkdir(theirs);
  await writeFile(
    path.join(theirs, 'sitecustomize.py'),
    [
      'import os, sys',
      'open(os.environ["MARKER"], "w").write("theirs ran; ours first: %s" % ("staged_quota.auto" in sys.modules))',
      '',
    ].join('\n'),
  );
  const result = await t.runPython(
    ['import urllib.request', `urllib.request.urlopen("${base}/chained").read()`],
    t.runEnvironment(base, { PYTHONPATH: `${PYTHON_DIR}:${theirs}`, MARKER: marker }),
  );
  expect(result.stderr).toBe('');
  expect(await readFile(marker, 'utf8')).toBe('theirs ran; ours first: True');
  expect(api.requests()).toHaveLength(1);
  expect(t.agent.acquires()).toHaveLength(1);
});

quotaTest(
  'a broken host map or a failing chained sitecustomize is printed once and the script still runs',
  async (t) => {
    await t.agent.start();
    const { api, base } = await t.startedApi();
    const theirs = path.join(t.dir, 'broken-site');
    await mkdir(theirs);
    await writeFile(path.join(theirs, 'sitecustomize.py'), 'raise RuntimeError("their bug")\n');
    const result = await t.runPython(
      ['import urllib.request', `print(urllib.request.urlopen("${base}/anyway").status)`],
      t.runEnvironment(base, { STAGED_QUOTA_HOSTS: '{not json', PYTHONPATH: `${PYTHON_DIR}:${theirs}` }),
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('200');
    const lines = result.stderr.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/automatic quota metering failed.*STAGED_QUOTA_HOSTS is not JSON/);
    expect(lines[1]).toMatch(/the next sitecustomize failed.*their bug/);
    expect(api.requests()).toHaveLength(1);
    expect(t.agent.calls).toEqual([]);
  },
);

quotaTest('(f) acquire("x", 3), metered and a refusal from Python', async (t) => {
  await t.agent.start();
  const result = await t.runPython(
    [
      'import staged_quota',
      'print(staged_quota.acquire("x", 3))',
      '@staged_quota.metered("x")',
      'def fetch(): return "fetched"',
      'print(fetch())',
      'with staged_quota.metered("fakeapi", 2): pass',
      'try:',
      '    staged_quota.acquire("undeclared")',
      'except staged_quota.QuotaRefused as refusal:',
      '    print(refusal.status, refusal.message)',
    ],
    t.runEnvironment('http://127.0.0.1:1'),
  );
  expect(result.stderr).toBe('');
  expect(result.stdout.split('\n')).toEqual(['3', 'fetched', '403 quota "undeclared" is not declared for this run']);
  expect(t.agent.calls.map((call) => call.body)).toEqual([
    { quota: 'x', calls: 3 },
    { quota: 'x', calls: 1 },
    { quota: 'fakeapi', calls: 2 },
    { quota: 'undeclared', calls: 1 },
  ]);
});

quotaTest('(f) staged-quota from a shell: acquire and rate-limited; exit 1 on refusal, 2 on bad usage', async (t) => {
  await t.agent.start();
  const environment = t.runEnvironment('http://127.0.0.1:1');
  const shell = (command: string, extra: Record<string, string> = {}) =>
    execa('sh', ['-c', command], { env: { ...environment, ...extra }, extendEnv: false, reject: false });

  const granted = await shell('staged-quota acquire x 2 && staged-quota acquire x && staged-quota rate-limited x 5');
  expect([granted.exitCode, granted.stdout, granted.stderr]).toEqual([0, '', '']);
  expect(t.agent.calls.map((call) => [call.path, call.body])).toEqual([
    ['/acquire', { quota: 'x', calls: 2 }],
    ['/acquire', { quota: 'x', calls: 1 }],
    ['/rate-limited', { quota: 'x', retryAfterSeconds: 5 }],
  ]);

  const wrongToken = await shell('staged-quota acquire x', { STAGED_QUOTA_TOKEN: 'not-this-run' });
  expect(wrongToken.exitCode).toBe(1);
  expect(wrongToken.stderr).toBe('staged-quota: quota agent refused (401): unknown token');

  const undeclared = await shell('staged-quota rate-limited other');
  expect(undeclared.exitCode).toBe(1);
  expect(undeclared.stderr).toContain('(403): quota "other" is not declared for this run');

  const callsBefore = t.agent.calls.length;
  for (const usage of ['acquire', 'acquire x 0', 'acquire x two', 'frobnicate x', 'rate-limited x later', 'a b c d']) {
    const bad = await shell(`staged-quota ${usage}`);
    expect([usage, bad.exitCode]).toEqual([usage, 2]);
    expect(bad.stderr).toContain('usage: staged-quota acquire NAME [N]');
  }
  expect(t.agent.calls).toHaveLength(callsBefore);
});

quotaTest(
  'staged-quota needs no Python: one curl call on the socket (it started Python per call before)',
  async (t) => {
    await t.agent.start();
    // A PATH with the shell's tools and curl, and no python3.
    const tools = path.join(t.dir, 'tools');
    await mkdir(tools);
    for (const tool of ['curl', 'sed', 'sleep', 'head', 'dirname', 'readlink']) {
      const found = execaSync('sh', ['-c', `command -v ${tool}`]).stdout;
      await symlink(found, path.join(tools, tool));
    }
    const environment = { ...t.runEnvironment('http://127.0.0.1:1'), PATH: `${path.join(PYTHON_DIR, 'bin')}:${tools}` };
    const shell = (command: string) =>
      execa('/bin/sh', ['-c', command], { env: environment, extendEnv: false, reject: false });
    const granted = await shell('staged-quota acquire x 2 && staged-quota rate-limited x 7');
    expect([granted.exitCode, granted.stderr]).toEqual([0, '']);
    const refused = await shell('staged-quota acquire undeclared');
    expect([refused.exitCode, refused.stderr]).toEqual([
      1,
      'staged-quota: quota agent refused (403): quota "undeclared" is not declared for this run',
    ]);
    expect(t.agent.calls.map((call) => [call.path, call.body])).toEqual([
      ['/acquire', { quota: 'x', calls: 2 }],
      ['/rate-limited', { quota: 'x', retryAfterSeconds: 7 }],
      ['/acquire', { quota: 'undeclared', calls: 1 }],
    ]);
  },
);

quotaTest(
  '(g) the agent away when the script starts: the script waits for it, says so once, then proceeds',
  async (t) => {
    const { api, base } = await t.startedApi();
    const started = Date.now();
    const { python: script } = await t.startPython(
      ['import urllib.request', `print(urllib.request.urlopen("${base}/late").status)`],
      t.runEnvironment(base),
    );
    // The agent comes up once the script has found it away (a busy machine may start Python late), and after 1 s.
    const foundAway = new Promise<void>((resolve) => {
      let stderr = '';
      script.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('is not answering')) resolve();
      });
    });
    await Promise.all([Promise.race([foundAway, script]), new Promise((resolve) => setTimeout(resolve, 1000))]);
    await t.agent.start();
    const agentUp = Date.now();
    const result = await script;
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('200');
    expect(result.stderr.split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`quota agent at ${t.agent.socketPath} is not answering`);
    expect(agentUp - started).toBeGreaterThanOrEqual(1000);
    expect(api.requests()).toHaveLength(1);
    expect(api.requests()[0].at).toBeGreaterThanOrEqual(agentUp);
    t.acquiredAt(api);
  },
);

quotaTest('the agent dropping a waiting acquire (its worker died) is retried, not an error', async (t) => {
  await t.startAgentWith({ dropAcquires: 2 });
  const result = await t.runPython(
    ['import staged_quota', 'print(staged_quota.acquire("x", 4))'],
    t.runEnvironment('http://127.0.0.1:1'),
  );
  expect(result.stdout).toBe('4');
  expect(result.stderr.split('\n')).toHaveLength(1);
  expect(t.agent.calls.filter((call) => call.dropped)).toHaveLength(2);
  expect(t.agent.acquires().map((call) => call.body)).toEqual([{ quota: 'x', calls: 4 }]);
});

quotaTest('a 503 (the run between two workers) is asked again, from Python and from the shell command', async (t) => {
  await t.startAgentWith({ busyAcquires: 2 });
  const environment = t.runEnvironment('http://127.0.0.1:1');
  const result = await t.runPython(['import staged_quota', 'print(staged_quota.acquire("x", 2))'], environment);
  expect([result.stdout, result.stderr.split('\n').length]).toEqual(['2', 1]);
  expect(result.stderr).toContain('held by another worker right now');
  expect(t.agent.acquires().map((call) => call.body)).toEqual([{ quota: 'x', calls: 2 }]);

  await t.agent.stop();
  await t.startAgentWith({ busyAcquires: 2 });
  const shell = await execa('sh', ['-c', 'staged-quota acquire x 3'], { env: environment, extendEnv: false });
  expect([shell.exitCode, shell.stderr.split('\n').length]).toEqual([0, 1]);
  expect(shell.stderr).toContain('held by another worker right now');
  expect(t.agent.acquires().map((call) => call.body)).toEqual([{ quota: 'x', calls: 3 }]);
});

quotaTest("a slow grant is waited for, whatever the script's socket timeouts", async (t) => {
  await t.startAgentWith({ grantDelayMs: 1500 });
  const { api, base } = await t.startedApi();
  const result = await t.runPython(
    [
      'import socket, time, urllib.request',
      'socket.setdefaulttimeout(0.2)',
      'started = time.monotonic()',
      `print(urllib.request.urlopen("${base}/patient", timeout=0.3).status, time.monotonic() - started >= 1.5)`,
    ],
    t.runEnvironment(base),
  );
  expect(result.stderr).toBe('');
  expect(result.stdout).toBe('200 True');
  expect(api.requests()).toHaveLength(1);
});

quotaTest(
  'a long wait on a kept-alive http.client connection reconnects: the server drops it as it is reused',
  async (t) => {
    const { api, result } = await t.runAcrossDroppedKeepAlive((base) => [
      'import http.client',
      `connection = http.client.HTTPConnection("127.0.0.1", ${new URL(base).port})`,
      'for path in ["/warm", "/after-wait"]:',
      '    connection.request("GET", path)',
      '    print(connection.getresponse().read().decode().count(path))',
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(['1', '1']);
    expect(api.requests()).toHaveLength(2);
  },
);

quotaTest(
  'a long wait in a requests Session reconnects: the server drops its kept-alive connection as it is reused',
  async (t) => {
    const { api, result } = await t.runAcrossDroppedKeepAlive((base) => [
      'import requests',
      'session = requests.Session()',
      `print([session.get("${base}" + path).status_code for path in ["/warm", "/after-wait"]])`,
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('[200, 200]');
    expect(api.requests()).toHaveLength(2);
  },
  withRequests,
);

quotaTest('(h) without STAGED_QUOTA_SOCKET: acquire and report are no-ops and scripts run normally', async (t) => {
  const { api, base } = await t.startedApi();
  const result = await t.runPython(
    [
      'import urllib.request, staged_quota',
      'print(staged_quota.acquire("x", 2))',
      'staged_quota.report_rate_limited("x", 3)',
      'with staged_quota.metered("x"): pass',
      `print(urllib.request.urlopen("${base}/by-hand").status)`,
    ],
    t.runEnvironment(base, { STAGED_QUOTA_SOCKET: undefined }),
  );
  expect(result.stderr).toBe('');
  expect(result.stdout.split('\n')).toEqual(['2', '200']);
  expect(api.requests()).toHaveLength(1);

  const cli = await execa('sh', ['-c', 'staged-quota acquire x 5 && staged-quota rate-limited x 1'], {
    env: t.runEnvironment(base, { STAGED_QUOTA_SOCKET: undefined }),
    extendEnv: false,
    reject: false,
  });
  expect([cli.exitCode, cli.stderr]).toEqual([0, '']);
});

quotaTest(
  'curl_cffi (a stand-in of the same name): Session.request is metered once the script imports it',
  async (t) => {
    // curl_cffi is not installable here; the stand-in speaks raw HTTP over a socket, as libcurl does, not http.client.
    const standIn = path.join(t.dir, 'stand-in');
    await mkdir(path.join(standIn, 'curl_cffi', 'requests'), { recursive: true });
    await writeFile(path.join(standIn, 'curl_cffi', '__init__.py'), '');
    await writeFile(
      path.join(standIn, 'curl_cffi', 'requests', '__init__.py'),
      [
        'import email.parser, socket, urllib.parse',
        'class Response:',
        '    def __init__(self, status_code, headers):',
        '        self.status_code, self.headers = status_code, headers',
        'class Session:',
        '    def __init__(self, base_url=None, impersonate=None):',
        '        self.base_url = base_url',
        '    def request(self, method, url, **kwargs):',
        '        url = urllib.parse.urljoin(self.base_url or "", url)',
        '        parts = urllib.parse.urlsplit(url)',
        '        with socket.create_connection((parts.hostname, parts.port)) as connection:',
        '            connection.sendall(("%s %s HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n"',
        '                                % (method, parts.path, parts.netloc)).encode())',
        '            data = b""',
        '            while True:',
        '                chunk = connection.recv(65536)',
        '                if not chunk: break',
        '                data += chunk',
        '        status_line, _, head = data.split(b"\\r\\n\\r\\n")[0].decode().partition("\\r\\n")',
        '        return Response(int(status_line.split()[1]), email.parser.Parser().parsestr(head))',
        '    def get(self, url, **kwargs):',
        '        return self.request("GET", url, **kwargs)',
        'def get(url, **kwargs):',
        '    return Session().get(url, **kwargs)',
        '',
      ].join('\n'),
    );
    await t.agent.start();
    const { api, base } = await t.startedApi({ limit: 1, windowMs: 60_000, retryAfterSeconds: 9 });
    const { api: unmapped, base: otherBase } = await t.startedApi();
    const result = await t.runPython(
      [
        'import sys',
        'print("curl_cffi" in sys.modules)',
        'from curl_cffi import requests',
        'print(requests.Session(base_url="' + base + '", impersonate="chrome").get("/quote").status_code)',
        `print(requests.get("${base}/again").status_code)`,
        `print(requests.get("${otherBase}/unmapped").status_code)`,
        'print(requests.__spec__.loader.get_filename("curl_cffi.requests").endswith("__init__.py"))',
      ],
      t.runEnvironment(base, { PYTHONPATH: `${PYTHON_DIR}:${standIn}` }),
    );
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(['False', '200', '429', '200', 'True']);
    expect(unmapped.requests()).toHaveLength(1);
    expect(t.agent.acquires().map((call) => call.body)).toEqual(Array(2).fill({ quota: 'fakeapi', calls: 1 }));
    expect(t.agent.rateLimited().map((call) => call.body)).toEqual([{ quota: 'fakeapi', retryAfterSeconds: 9 }]);
    t.acquiredAt(api);
  },
);
