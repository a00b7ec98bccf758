/** The one way tests and benchmarks start Temporal's dev server: real servers, real ports, a real SQLite file. */
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Client, Connection } from '@temporalio/client';
import { devServerProcess, startDevServer, type DevServerProcess } from '../../src/server/dev-server-process.js';
import { serverAnswers } from '../../src/server/dev-server.js';
import { STAGED_SEARCH_ATTRIBUTES } from '../../src/protocol/search-attributes.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';

const MODULE = fileURLToPath(new URL('../../src/server/dev-server-process.js', import.meta.url));

const servers: DevServerProcess[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.kill()));
});

async function withConnection<T>(address: string, use: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await use(connection);
  } finally {
    await connection.close();
  }
}

const withClient = <T>(address: string, use: (client: Client) => Promise<T>) =>
  withConnection(address, (connection) => use(new Client({ connection })));

test("a started server answers, with staged's search attributes registered, and is gone once stopped", async () => {
  const server = await startDevServer();
  servers.push(server);

  const attributes = await withConnection(server.address, (connection) =>
    connection.operatorService.listSearchAttributes({ namespace: server.namespace }),
  );
  expect(Object.keys(attributes.customAttributes ?? {})).toEqual(
    expect.arrayContaining(STAGED_SEARCH_ATTRIBUTES.map((key) => key.name)),
  );

  await server.stop();
  expect(await serverAnswers(server.address)).toBe(false);
});

test('a server on a SQLite file, killed and started again, has the same address and its workflows', async () => {
  const server = await devServerProcess({ dbFile: path.join(await tempDir('dev-server-db'), 'temporal.db') });
  servers.push(server);
  await server.start();
  const workflowId = `kept-${Date.now()}`;
  await withClient(server.address, (client) =>
    client.workflow.start('noSuchWorkflow', { workflowId, taskQueue: 'nobody-polls' }),
  );

  await server.kill();
  expect(await serverAnswers(server.address)).toBe(false);
  await server.start();

  const described = await withClient(server.address, (client) => client.workflow.getHandle(workflowId).describe());
  expect(described.status.name).toBe('RUNNING');
});

test('the Web UI is served when asked for', async () => {
  const server = await startDevServer({ ui: true });
  servers.push(server);

  expect(server.uiUrl).toMatch(/^http:\/\/localhost:\d+$/);
  let status = 0;
  for (const deadline = Date.now() + 30_000; status !== 200 && Date.now() < deadline;) {
    status = await fetch(server.uiUrl!).then(
      (response) => response.status,
      () => 0,
    );
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  expect(status).toBe(200);
});

test('a server does not outlive the process that started it, even one killed with SIGKILL', async () => {
  const script = `const { startDevServer } = await import(${JSON.stringify(MODULE)});
    console.log((await startDevServer()).address);
    setInterval(() => undefined, 60_000);`;
  const starter = execa(process.execPath, ['--input-type=module', '-e', script], { reject: false, buffer: false });
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: starter.stdout }).once('line', resolve);
    starter.once('exit', () => reject(new Error('the starter exited before its server answered')));
  });
  expect(await serverAnswers(address)).toBe(true);

  starter.kill('SIGKILL');
  await starter;

  await until(async () => !(await serverAnswers(address, 1_000)), 20_000, 'the orphaned server to be gone');
});
