/**
 * Temporal's Web UI, in a real browser (Debian's headless Chromium driven by playwright-core):
 * a batch and its experiments are found by staged's search attributes. Saves screenshots to
 * dist/screenshots/, or to docs/ with STAGED_UPDATE_SCREENSHOTS=1 (`npm run webui-check`).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { execa } from 'execa';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CLI, until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { startTestServer, workerOnOwnQueue, type TestServer } from '../helpers/temporal.js';

const CHROMIUM = process.env.STAGED_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SCREENSHOTS =
  process.env.STAGED_UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs') : path.join(ROOT, 'dist', 'screenshots');
/** Without the background-networking flags, Chromium tries Google's hosts, which this network refuses. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let env: TestServer;
let ui: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set STAGED_CHROMIUM)`);
  env = await startTestServer({ ui: true });
  ui = env.devServer.uiUrl!;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

beforeEach(async () => {
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
});

// A page left open keeps polling the UI's server and can starve the next one of connections.
afterEach(async () => {
  await page?.close();
});

afterAll(async () => {
  await browser?.close();
  await env?.teardown();
});

async function openList(page: Page, query: string): Promise<void> {
  const url = `${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
  await page.goto(url, { waitUntil: 'domcontentloaded' });
}

/** Workflow ids the list links to (the search box also shows the batch id, as text). */
async function shownIds(page: Page, batchId: string): Promise<string[]> {
  const links = await page.locator('a').allInnerTexts();
  const id = new RegExp(`^${batchId}(/exp\\d+_\\w+)?$`);
  return [...new Set(links.map((text) => text.trim()).filter((text) => id.test(text)))].sort();
}

async function listUntil(page: Page, query: string, batchId: string, expected: string[]): Promise<void> {
  let shown: string[] = [];
  await until(
    async () => {
      await openList(page, query);
      await page.waitForLoadState('networkidle').catch(() => undefined);
      shown = await shownIds(page, batchId);
      return JSON.stringify(shown) === JSON.stringify([...expected].sort());
    },
    60_000,
    `the Web UI to list ${expected.length} workflow(s) for ${query}`,
  ).catch(() => {
    expect({ query, shown }).toEqual({ query, shown: [...expected].sort() });
  });
}

test('the Web UI finds a batch and its experiments by StagedBatchId, StagedPriority and StagedStatus', async () => {
  const { taskQueue, worker } = await workerOnOwnQueue(env, 3);
  const batchId = `webui-${Date.now()}`;
  await mkdir(SCREENSHOTS, { recursive: true });

  await worker.runUntil(async () => {
    const submit = await execa(
      process.execPath,
      [CLI, 'submit', '--priority', 'high', '--max-concurrent', '3', '--batch-id', batchId, '--json'],
      {
        cwd: ROOT,
        env: { TEMPORAL_ADDRESS: env.address, STAGED_TASK_QUEUE: taskQueue },
        reject: false,
      },
    );
    expect(submit.exitCode).toBe(0);
    const summary = JSON.parse(String(submit.stdout)) as { experiments: { name: string; priority: string }[] };
    const ids = (priority?: string) =>
      summary.experiments
        .filter((experiment) => !priority || experiment.priority === priority)
        .map((experiment) => `${batchId}/${experiment.name}`);
    expect(ids('critical')).toHaveLength(3);
    expect(ids()).toHaveLength(8);

    await listUntil(page, `StagedBatchId="${batchId}"`, batchId, [batchId, ...ids()]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-batch.png') });

    await listUntil(
      page,
      `StagedBatchId="${batchId}" AND StagedPriority="critical" AND StagedStatus="completed"`,
      batchId,
      ids('critical'),
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-critical.png') });
  });
});

test("a running experiment's progress shows in the Web UI as its activity's heartbeat details", async () => {
  const dir = await tempDir('webui-progress');
  const release = path.join(dir, '_release');
  const waitForRelease = `i=0; while [ ! -e "${release}" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`;
  await writeFile(
    path.join(dir, 'exp1_training.sh'),
    `#!/bin/sh\n# Model training\necho "PROGRESS 3/10"\n${waitForRelease}\n`,
    { mode: 0o755 },
  );
  const { taskQueue, worker } = await workerOnOwnQueue(env, 1);
  const batchId = `webui-progress-${Date.now()}`;

  await worker.runUntil(async () => {
    const submit = await execa(process.execPath, [CLI, 'submit', '--dir', dir, '--batch-id', batchId, '--detach'], {
      cwd: dir,
      env: { TEMPORAL_ADDRESS: env.address, STAGED_TASK_QUEUE: taskQueue },
      reject: false,
    });
    expect(submit.exitCode).toBe(0);
    const workflowId = `${batchId}/exp1_training`;
    await until(
      async () => {
        try {
          return (await env.client.workflow.getHandle(workflowId).describe()).raw.pendingActivities?.length === 1;
        } catch {
          return false;
        }
      },
      30_000,
      'the experiment to run',
    );
    const { runId } = await env.client.workflow.getHandle(workflowId).describe();
    const url = `${ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/pending-activities`;
    let text = '';
    // Reloads until the page shows a heartbeat that carries the progress (the worker throttles them).
    await until(
      async () => {
        await page.goto(url, { waitUntil: 'load' });
        for (let look = 0; look < 10; look++) {
          text = await page.locator('body').innerText();
          if (/"percent": 30/.test(text)) return true;
          await page.waitForTimeout(200);
        }
        return false;
      },
      30_000,
      'heartbeat details with the progress in the Web UI',
    ).catch(() => {
      expect(text).toMatch(/"percent": 30/);
    });
    expect(text).toMatch(/"done": 3,\s+"total": 10/);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-progress.png') });
    await writeFile(release, '');
    await env.client.workflow.getHandle(batchId).result();
  });
});
