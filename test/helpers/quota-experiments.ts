/** Python experiments that call a simulated rate-limited API through plain urllib, and their quota config. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ExperimentSet {
  count: number;
  calls: number;
  /** The docstring's `Quota:` line, or none. */
  quotaLine?: string;
  /**
   * What a refused call does: `retry` until accepted; `skip` it (counted, printed); or `give-up`: retry 3 times,
   * 1 s apart, then exit 1, as a client library's "max retries exhausted".
   */
  onRefused: 'retry' | 'skip' | 'give-up';
  /** The API's host in the URL (default 127.0.0.1; `[::1]` for IPv6). */
  host?: string;
}

const REFUSED: Record<ExperimentSet['onRefused'], string[]> = {
  retry: [],
  skip: ['            break'],
  'give-up': [
    '            if refused_in_a_row == 3:',
    '                raise SystemExit("max retries exhausted")',
    '            refused_in_a_row += 1',
    '            time.sleep(1)',
  ],
};

/** Writes `exp<i>_calls.py`: each calls the API `calls` times and prints how many calls were refused. */
export async function writeQuotaExperiments(dir: string, port: number, set: ExperimentSet): Promise<void> {
  for (let index = 1; index <= set.count; index++) {
    const source = [
      '"""Calls the simulated API through plain urllib.',
      '',
      set.quotaLine ?? '',
      '"""',
      'import os, time, urllib.error, urllib.request',
      'refused = 0',
      `for call in range(${set.calls}):`,
      '    refused_in_a_row = 0',
      '    while True:',
      '        try:',
      `            urllib.request.urlopen("http://${set.host ?? '127.0.0.1'}:${port}/quote?call=%d" % call).read()`,
      '            break',
      '        except urllib.error.HTTPError as error:',
      '            if error.code != 429:',
      '                raise',
      '            refused += 1',
      ...REFUSED[set.onRefused],
      'print("refused", refused)',
      // The worker socket the run's link points to: the agent that served it last.
      'print("agent", os.path.realpath(os.environ.get("STAGED_QUOTA_SOCKET", "")))',
      '',
    ].join('\n');
    await writeFile(path.join(dir, `exp${index}_calls.py`), source);
  }
}

export async function writeQuotaConfig(dir: string, quotas: Record<string, unknown>): Promise<void> {
  await writeFile(path.join(dir, 'staged.config.json'), JSON.stringify({ quotas }, null, 2));
}

/** Experiments that call the API every 50 ms (the path names the experiment) until `stopFile` exists; `1000/1s`. */
export async function writeCallingExperiments(dir: string, port: number, names: string[], stopFile: string) {
  await writeQuotaConfig(dir, { fakeapi: { limit: '1000/1s', hosts: [`127.0.0.1:${port}`] } });
  for (const name of names) {
    const source = [
      '"""Calls the API until told to stop.',
      '',
      'Quota: fakeapi',
      '"""',
      'import os, time, urllib.request',
      'calls = 0',
      `while not os.path.exists(${JSON.stringify(stopFile)}):`,
      `    urllib.request.urlopen("http://127.0.0.1:${port}/${name}?call=%d" % calls).read()`,
      '    calls += 1',
      '    time.sleep(0.05)',
      'print("calls", calls)',
      '',
    ].join('\n');
    await writeFile(path.join(dir, `${name}.py`), source);
  }
}

/**
 * Shell experiments that call the API `calls` times with curl, each call granted first: through the `staged-quota`
 * command, or by one curl call on the run's socket.
 */
export async function writeCurlExperiments(
  dir: string,
  port: number,
  count: number,
  calls: number,
  via: 'command' | 'socket',
) {
  const acquire =
    via === 'command'
      ? 'staged-quota acquire fakeapi'
      : 'curl -sf --unix-socket "$STAGED_QUOTA_SOCKET" -H "Authorization: Bearer $STAGED_QUOTA_TOKEN" ' +
        '-d \'{"quota": "fakeapi", "calls": 1}\' http://localhost/acquire >/dev/null';
  for (let index = 1; index <= count; index++) {
    const source = [
      '#!/bin/sh',
      '# Calls the simulated API with curl.',
      '# Quota: fakeapi',
      'set -e',
      `for call in $(seq ${calls}); do`,
      `  ${acquire}`,
      `  curl -sf "http://127.0.0.1:${port}/quote?call=$call" >/dev/null`,
      'done',
      '',
    ].join('\n');
    await writeFile(path.join(dir, `exp${index}_curl.sh`), source, { mode: 0o755 });
  }
}
