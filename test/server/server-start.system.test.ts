/**
 * Starting a dev server on a busy machine or beside another one: staged waits as long as the server
 * process lives and says what it does; a server that exits is reported at once with its own words;
 * a second server started with only --port finds a free metrics port; a server that took the port first is not
 * taken for the one started here.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { ServerExitedError } from '../../src/errors.js';
import { runningPidOf, serviceFiles, stopBackground } from '../../src/server/background.js';
import { ServerTakenMeanwhileError, startBackgroundDevServer } from '../../src/server/background-dev-server.js';
import { serverAnswers } from '../../src/server/dev-server.js';
import { startDevServer } from '../../src/server/dev-server-process.js';
import { groupAlive } from '../../src/server/process-group.js';
import { DEV_SERVER_METRICS_PORT, freePort } from '../../src/server/ports.js';
import { readServerRecord } from '../../src/server/server-record.js';
import { findTemporalCli } from '../../src/server/temporal-cli.js';
import { CLI } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';

/** A stand-in for the Temporal CLI that runs `body` first (sh). */
async function temporalCliThat(body: string): Promise<string> {
  const file = path.join(await tempDir('temporal-cli'), 'temporal');
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

async function serverOptions(workDir: string) {
  return {
    port: await freePort(),
    uiPort: await freePort(),
    metricsPort: await freePort(),
    dbFile: path.join(workDir, '.staged', 'temporal.db'),
  };
}

/** Listens on `port` unless something already does; either way the port is taken while the test runs. */
async function occupy(port: number): Promise<Server | undefined> {
  const squatter = createServer();
  return new Promise((resolve) => {
    squatter.once('error', () => resolve(undefined));
    squatter.listen(port, () => resolve(squatter));
  });
}

describe('the embedded (background) server', () => {
  test('a server slow to start is waited for, with progress lines saying what it does', async () => {
    const workDir = await tempDir('slow-server');
    const realCli = await findTemporalCli({ build: false });
    const temporalCli = await temporalCliThat(`sleep 8\nexec ${realCli} "$@"`);
    const server = await serverOptions(workDir);
    const lines: string[] = [];
    try {
      await startBackgroundDevServer({
        workDir,
        temporalCli,
        server,
        namespace: 'default',
        log: (line) => lines.push(line),
        progressEveryMs: 2_000,
      });
      expect(await serverAnswers(`127.0.0.1:${server.port}`)).toBe(true);
    } finally {
      await stopBackground(workDir, 'server');
    }
    expect(lines.join('\n')).toContain(`not yet listening on port ${server.port}`);
    expect(lines.filter((line) => line.startsWith('[WAIT]')).length).toBeGreaterThanOrEqual(2);
    expect(readServerRecord(workDir)).toEqual({
      address: `localhost:${server.port}`,
      uiPort: server.uiPort,
      metricsPort: server.metricsPort,
    });
  }, 90_000);

  test('a server that exits before it answers fails the wait at once, with the end of its log', async () => {
    const workDir = await tempDir('dying-server');
    const temporalCli = await temporalCliThat(
      'echo "starting"\necho "listen tcp :9233: bind: address already in use" >&2\nexit 3',
    );
    const startedAt = Date.now();
    const started = startBackgroundDevServer({
      workDir,
      temporalCli,
      server: await serverOptions(workDir),
      namespace: 'default',
      log: () => undefined,
    });
    await expect(started).rejects.toBeInstanceOf(ServerExitedError);
    await expect(started).rejects.toThrow(/exited before it answered[^]*bind: address already in use/);
    expect(Date.now() - startedAt).toBeLessThan(20_000);
  });

  test('a server that took the port first (another submit at the same time) is not taken for this one', async () => {
    const other = await startDevServer();
    const workDir = await tempDir('taken-meanwhile');
    const server = { ...(await serverOptions(workDir)), port: Number(other.address.split(':').pop()) };
    try {
      const started = startBackgroundDevServer({
        workDir,
        temporalCli: await findTemporalCli({ build: false }),
        server,
        namespace: 'default',
        log: () => undefined,
      });
      await expect(started).rejects.toBeInstanceOf(ServerTakenMeanwhileError);
      const message = await started.catch((err: Error) => err.message);
      const pid = Number(/\(pid (\d+), now stopped\)/.exec(String(message))?.[1]);
      expect(pid).toBeGreaterThan(0);
      expect(groupAlive(pid)).toBe(false);
      expect(runningPidOf(serviceFiles(workDir, 'server'))).toBeUndefined();
      expect(readServerRecord(workDir)).toBeUndefined();
      expect(await serverAnswers(other.address)).toBe(true);
    } finally {
      await stopBackground(workDir, 'server');
      await other.stop();
    }
  }, 90_000);
});

describe('`staged server`', () => {
  function stagedServer(args: string[], cwd: string) {
    return execa(process.execPath, [CLI, 'server', ...args], {
      cwd,
      env: { TEMPORAL_ADDRESS: '' },
      reject: false,
      all: true,
    });
  }

  test('started with only --port beside a server on 9233, it takes a free metrics port and says which', async () => {
    const squatter = await occupy(DEV_SERVER_METRICS_PORT);
    const dir = await tempDir('second-server');
    const child = stagedServer(['--port', String(await freePort()), '--ui-port', String(await freePort())], dir);
    try {
      const ready = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => line.startsWith('[OK]') && resolve(line));
        void child.then((result) => reject(new Error(`staged server exited (${result.exitCode}):\n${result.all}`)));
      });
      const metricsUrl = /metrics (http:\/\/\S+),/.exec(ready)?.[1];
      expect(metricsUrl).toBeDefined();
      expect(metricsUrl).not.toContain(`:${DEV_SERVER_METRICS_PORT}/`);
      expect((await fetch(metricsUrl!)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await child;
      squatter?.close();
    }
  }, 90_000);

  test('a --metrics-port that is taken ends the command at once, with the server bind error', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, resolve));
    const { port: taken } = squatter.address() as { port: number };
    const dir = await tempDir('taken-metrics');
    const startedAt = Date.now();
    try {
      const result = await stagedServer(
        ['--port', String(await freePort()), '--ui-port', String(await freePort()), '--metrics-port', String(taken)],
        dir,
      );
      const tookMs = Date.now() - startedAt;
      expect(result.exitCode).toBe(1);
      expect(result.all).toContain('address already in use');
      expect(result.all).toMatch(/the dev server exited \(\d+\) before it answered/);
      expect(tookMs).toBeLessThan(45_000);
    } finally {
      squatter.close();
    }
  }, 90_000);
});
