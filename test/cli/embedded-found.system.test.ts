/**
 * `submit` with no server configured that finds one answering (often another project's background server, which
 * a `down` there stops): it says it uses that server and that the batch lives there; not when the server is this
 * directory's own background one. Against a real dev server.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connectOrStartServer } from '../../src/cli/embedded.js';
import { serviceFiles } from '../../src/server/background.js';
import { stagedHome } from '../../src/paths.js';
import { tempDir } from '../helpers/scripts.js';
import { useTestServer } from '../helpers/temporal.js';

const server = useTestServer();

/** The lines `submit` would print while connecting from `workDir` with nothing configured. */
async function connectLines(workDir: string): Promise<string[]> {
  const lines: string[] = [];
  const { address, namespace } = server.env;
  const config = { address, namespace, explicit: false, options: { address } };
  const connection = await connectOrStartServer(config, workDir, (line) => lines.push(line));
  await connection.close();
  return lines;
}

test("a server found answering is named as one not started here, unless it is this directory's own", async () => {
  const elsewhere = await connectLines(await tempDir('embedded-found'));
  expect(elsewhere).toEqual([expect.stringContaining(`Using the Temporal server that already answers at`)]);
  expect(elsewhere[0]).toContain(server.env.address);

  // This directory's own background server: its pid file names a live process group.
  const ownDir = await tempDir('embedded-own');
  const standIn = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  try {
    await mkdir(stagedHome(ownDir), { recursive: true });
    await writeFile(serviceFiles(ownDir, 'server').pidFile, `${standIn.pid}\n`);
    expect(await connectLines(ownDir)).toEqual([]);
  } finally {
    standIn.kill('SIGKILL');
  }
}, 60_000);
