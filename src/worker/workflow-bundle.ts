/**
 * Bundles the workflow code once, at build time, so that a worker starts in about a second and
 * never loads webpack (the bundler alone costs a worker ~150 MB). `npm run build` runs this, and
 * bundles again only when a file the last bundle was made from has changed.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
export const WORKFLOW_BUNDLE_PATH = fileURLToPath(new URL('../../workflow-bundle.js', import.meta.url));
/** The files the bundle was made from, with their hashes: when none changed, the bundle stands. */
const BUNDLE_INPUTS_PATH = fileURLToPath(new URL('../../workflow-bundle.inputs.json', import.meta.url));
/** Besides the files webpack read: this script (its options) and the SDK's version (its bundler). */
const BUNDLER_FILES = [
  fileURLToPath(import.meta.url),
  fileURLToPath(new URL('../../../node_modules/@temporalio/worker/package.json', import.meta.url)),
];

type Hashes = Record<string, string>;

/** Each file's sha256; a file that cannot be read (the bundler's generated entry point) is left out. */
async function hashesOf(files: Iterable<string>): Promise<Hashes> {
  const entries = await Promise.all(
    [...files].map(async (file) => {
      const content = await readFile(file).catch(() => undefined);
      return content && ([file, createHash('sha256').update(content).digest('hex')] as const);
    }),
  );
  return Object.fromEntries(entries.filter((entry) => entry !== undefined).sort(([a], [b]) => a.localeCompare(b)));
}

async function bundleIsCurrent(): Promise<boolean> {
  const [bundle, recorded] = await Promise.all([
    readFile(WORKFLOW_BUNDLE_PATH).catch(() => undefined),
    readFile(BUNDLE_INPUTS_PATH, 'utf8').then(
      (text) => JSON.parse(text) as { inputs: Hashes; bundle: string },
      () => undefined,
    ),
  ]);
  if (!bundle || !recorded) return false;
  if (createHash('sha256').update(bundle).digest('hex') !== recorded.bundle) return false;
  const current = await hashesOf(Object.keys(recorded.inputs));
  return JSON.stringify(current) === JSON.stringify(recorded.inputs);
}

async function bundle(): Promise<void> {
  // Loaded only to bundle: the SDK's worker package alone takes a second to import.
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const read = new Set<string>(BUNDLER_FILES);
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: undefined,
    webpackConfigHook: (config) => ({
      ...config,
      // Lines only, no sources: the workflow thread parses this map once and keeps it (7 MB for the full one).
      devtool: 'inline-nosources-cheap-module-source-map',
      plugins: [
        ...(config.plugins ?? []),
        {
          apply: (compiler) =>
            compiler.hooks.done.tap('recordBundleInputs', (stats) => {
              for (const file of stats.compilation.fileDependencies) read.add(file);
            }),
        },
      ],
    }),
  });
  const written = latin1Only(code);
  await writeFile(WORKFLOW_BUNDLE_PATH, written);
  const inputs = await hashesOf(read);
  const bundleHash = createHash('sha256').update(written).digest('hex');
  await writeFile(BUNDLE_INPUTS_PATH, `${JSON.stringify({ bundle: bundleHash, inputs }, null, 2)}\n`);
  const size = `${(written.length / 1024).toFixed(0)} KiB`;
  console.log(`workflow bundle: ${WORKFLOW_BUNDLE_PATH} (${size}, from ${Object.keys(inputs).length} files)`);
}

/**
 * The bundle's characters beyond Latin-1 (in comments and messages) as `\uXXXX` escapes, which mean the same in code:
 * V8 then keeps the workflow thread's copy of the bundle at one byte per character instead of two.
 */
export function latin1Only(code: string): string {
  return code.replace(/[\u0100-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

async function main(): Promise<void> {
  if (await bundleIsCurrent()) console.log(`workflow bundle: ${WORKFLOW_BUNDLE_PATH} is up to date`);
  else await bundle();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
