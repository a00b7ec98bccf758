/** What an experiment's environment keeps and loses; checked once through a real `sh -c env`. */
import { execa } from 'execa';
import { experimentEnvironment, isConnectionVariable } from '../../src/machine/child-env.js';

const connection = {
  TEMPORAL_ADDRESS: 'temporal.example.com:7233',
  TEMPORAL_NAMESPACE: 'research',
  TEMPORAL_API_KEY: 'tmprl-secret-key',
  TEMPORAL_TLS: 'true',
  TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/staged/client.pem',
  TEMPORAL_TLS_CLIENT_KEY_DATA: '-----BEGIN PRIVATE KEY-----',
  TEMPORAL_GRPC_META_AUTHORIZATION: 'Bearer secret',
  TEMPORAL_PROFILE: 'prod',
  TEMPORAL_CONFIG_FILE: '/etc/staged/temporal.toml',
  STAGED_TASK_QUEUE: 'staged-prod',
};

const user = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/home/researcher',
  MARKETDATA_API_KEY: 'user-data-key',
  OPENAI_API_KEY: 'user-model-key',
  AWS_SECRET_ACCESS_KEY: 'user-aws',
  STAGED_PYTHON: '/opt/venv/bin/python',
  MY_TEMPORAL_NOTES: 'not a Temporal setting',
};

test("drops every Temporal and staged connection variable, keeps the user's own keys, adds extra", () => {
  const result = experimentEnvironment(
    { ...connection, ...user, UNSET: undefined },
    { STAGED_BATCH_ID: 'b1', STAGED_ATTEMPT: '2' },
  );
  expect(result).toEqual({ ...user, STAGED_BATCH_ID: 'b1', STAGED_ATTEMPT: '2' });
});

test('extra wins over the parent, and the parent object is left alone', () => {
  const parent = { ...user, STAGED_EXPERIMENT: 'stale', TEMPORAL_API_KEY: 'k' };
  const result = experimentEnvironment(parent, { STAGED_EXPERIMENT: 'exp1_ok' });
  expect(result.STAGED_EXPERIMENT).toBe('exp1_ok');
  expect(parent).toEqual({ ...user, STAGED_EXPERIMENT: 'stale', TEMPORAL_API_KEY: 'k' });
});

test('isConnectionVariable matches the prefix exactly, case included', () => {
  expect(isConnectionVariable('TEMPORAL_ANYTHING_NEW')).toBe(true);
  expect(isConnectionVariable('STAGED_TASK_QUEUE')).toBe(true);
  expect(isConnectionVariable('MY_TEMPORAL_NOTES')).toBe(false);
  expect(isConnectionVariable('temporal_api_key')).toBe(false);
  expect(isConnectionVariable('STAGED_BATCH_ID')).toBe(false);
  expect(isConnectionVariable('TEMPORAL')).toBe(false);
});

function parseEnv(output: string): Record<string, string> {
  return Object.fromEntries(
    output
      .split('\n')
      .filter(Boolean)
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

test("a real process spawned with it sees no TEMPORAL_API_KEY and does see the user's variables", async () => {
  const parent = { ...process.env, ...connection, ...user, PATH: process.env.PATH ?? user.PATH };
  const env = experimentEnvironment(parent, { STAGED_BATCH_ID: 'batch-env' });
  const { stdout } = await execa('sh', ['-c', 'env'], { env, extendEnv: false });
  const seen = parseEnv(stdout);
  expect(seen.TEMPORAL_API_KEY).toBeUndefined();
  expect(Object.keys(seen).filter((name) => name.startsWith('TEMPORAL_'))).toEqual([]);
  expect(seen.STAGED_TASK_QUEUE).toBeUndefined();
  expect(seen.MARKETDATA_API_KEY).toBe('user-data-key');
  expect(seen.STAGED_BATCH_ID).toBe('batch-env');
});

test("why extendEnv: false matters: execa's default merges the worker's own environment back in", async () => {
  const before = process.env.TEMPORAL_API_KEY;
  process.env.TEMPORAL_API_KEY = 'worker-secret'; // as in a worker started with an API key
  try {
    const env = experimentEnvironment(process.env, {});
    const merged = await execa('sh', ['-c', 'env'], { env });
    const alone = await execa('sh', ['-c', 'env'], { env, extendEnv: false });
    expect(parseEnv(merged.stdout).TEMPORAL_API_KEY).toBe('worker-secret');
    expect(parseEnv(alone.stdout).TEMPORAL_API_KEY).toBeUndefined();
  } finally {
    if (before === undefined) delete process.env.TEMPORAL_API_KEY;
    else process.env.TEMPORAL_API_KEY = before;
  }
});
