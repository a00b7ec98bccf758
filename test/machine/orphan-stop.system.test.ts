/**
 * The orphan check's stop of runs whose keeper died (orphans.ts): a run it cannot stop does not keep it from the runs
 * after it. Real server, keeper binary (`--stop-left`) and processes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { watchOrphans } from '../../src/machine/orphans.js';
import { RunFiles, type RunExit, type RunStarted } from '../../src/keeper/run-files.js';
import { GONE_WITHIN_MS, LOAD_MARGIN_MS, until, waitUntilDead } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

/** A pid whose process has ended: the keeper of the runs below. */
async function deadPid(): Promise<number> {
  const child = spawn('/bin/true');
  await once(child, 'exit');
  return child.pid!;
}

/** A run directory as a keeper that died leaves it: its start recorded, no end. */
async function leftRun(runsDir: string, runKey: string, keeperPid: number): Promise<RunFiles> {
  const files = new RunFiles(path.join(runsDir, runKey));
  await mkdir(files.dir, { recursive: true });
  const state: RunStarted = { keeperPid, pid: keeperPid, startedAt: Date.now(), killMode: 'process-scan' };
  await files.writeJson(files.state, state);
  return files;
}

test('a run whose leftovers cannot be stopped is said, and the runs after it are stopped all the same', async () => {
  const root = await tempDir('orphan-stop');
  const layout = { own: path.join(root, 'own'), legacy: path.join(root, 'legacy') };
  const keeperPid = await deadPid();
  // Checked first (own runs come before legacy ones): no spec, so --stop-left cannot tell what to stop.
  const broken = await leftRun(layout.own, 'wf-broken.run-1', keeperPid);
  const left = await leftRun(layout.legacy, 'wf-left.run-1', keeperPid);
  const runId = `orphan-stop-${process.pid}-${Date.now()}`;
  const spec = { runId, file: '/bin/sleep', args: [], cwd: root, logFile: path.join(root, 'log'), killGraceMs: 1_000 };
  await left.writeJson(left.spec, spec);
  const script = spawn('/bin/sleep', ['300'], { env: { STAGED_RUN_ID: runId }, detached: true, stdio: 'ignore' });
  started.push(script.pid!);

  const said: string[] = [];
  const lost: string[] = [];
  const orphans = watchOrphans(
    server.env.nativeConnection,
    server.env.namespace,
    layout,
    new Set(),
    (line) => said.push(line),
    undefined,
    (runKey) => lost.push(runKey),
  );
  try {
    // Before: the broken run's failure ended each check, every 10 s, before the left run was reached.
    await until(() => lost.includes('wf-left.run-1'), 30_000, 'the left run to be stopped');
    expect(await waitUntilDead([script.pid!], GONE_WITHIN_MS + LOAD_MARGIN_MS)).toBeDefined();
    expect((await left.readJson<RunExit>(left.exit))?.end).toBe('abandoned');
    expect(lost).not.toContain('wf-broken.run-1');
    expect(await broken.readJson<RunExit>(broken.exit)).toBeUndefined();
    expect(said.filter((line) => line.includes(broken.dir))).toEqual([
      expect.stringMatching(
        /^could not stop what the dead keeper of .* left: its spec\.json is unreadable \(.*\): what/,
      ),
    ]);
  } finally {
    orphans.stop();
  }
}, 60_000);
