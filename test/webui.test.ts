/**
 * Temporal's Web UI, in a real browser (Debian's headless Chromium driven by playwright-core):
 * a batch and its experiments are found by staged's search attributes. Saves screenshots to
 * dist/screenshots/, or to docs/ with STAGED_UPDATE_SCREENSHOTS=1 (`npm run webui-check`).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PRIORITY_DYNAMIC_CONFIG } from '../src/server/dev-server.js';
import { findTemporalCli } from '../src/server/temporal-cli.js';
import { STAGED_SEARCH_ATTRIBUTES } from '../src/workflows/search-attributes.js';
import { CLI, until } from './helpers/processes.js';
import { startWorker, uniqueQueue } from './helpers/temporal.js';

const CHROMIUM = process.env.STAGED_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCREENSHOTS = process.env.STAGED_UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs') : path.join(ROOT, 'dist', 'screenshots');
const UI_PORT = 18_233 + (process.pid % 500);
/** Without the background-networking flags, Chromium tries Google's hosts, which this network refuses. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let env: TestWorkflowEnvironment;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set STAGED_CHROMIUM)`);
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: await findTemporalCli({ build: false }) },
      extraArgs: PRIORITY_DYNAMIC_CONFIG,
      searchAttributes: STAGED_SEARCH_ATTRIBUTES,
      ui: true,
      uiPort: UI_PORT,
    },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await env?.teardown();
});

async function openList(page: Page, query: string): Promise<void> {
  const url = `http://localhost:${UI_PORT}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
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
  await until(async () => {
    await openList(page, query);
    await page.waitForLoadState('networkidle').catch(() => undefined);
    shown = await shownIds(page, batchId);
    return JSON.stringify(shown) === JSON.stringify([...expected].sort());
  }, 60_000, `the Web UI to list ${expected.length} workflow(s) for ${query}`).catch(() => {
    expect({ query, shown }).toEqual({ query, shown: [...expected].sort() });
  });
}

test('the Web UI finds a batch and its experiments by StagedBatchId, StagedPriority and StagedStatus', async () => {
  const taskQueue = uniqueQueue();
  const batchId = `webui-${Date.now()}`;
  const worker = await startWorker(env, taskQueue, 3);
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await mkdir(SCREENSHOTS, { recursive: true });

  await worker.runUntil(async () => {
    const submit = await execa(process.execPath, [CLI, 'submit', '--priority', 'high', '--max-concurrent', '3', '--batch-id', batchId, '--json'], {
      cwd: ROOT,
      env: { TEMPORAL_ADDRESS: env.address, STAGED_TASK_QUEUE: taskQueue },
      reject: false,
    });
    expect(submit.exitCode).toBe(0);
    const summary = JSON.parse(String(submit.stdout)) as { experiments: { name: string; priority: string }[] };
    const ids = (priority?: string) =>
      summary.experiments.filter((experiment) => !priority || experiment.priority === priority).map((experiment) => `${batchId}/${experiment.name}`);
    expect(ids('critical')).toHaveLength(3);
    expect(ids()).toHaveLength(8);

    await listUntil(page, `StagedBatchId="${batchId}"`, batchId, [batchId, ...ids()]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-batch.png') });

    await listUntil(page, `StagedBatchId="${batchId}" AND StagedPriority="critical" AND StagedStatus="completed"`, batchId, ids('critical'));
    await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-critical.png') });
  });
});
