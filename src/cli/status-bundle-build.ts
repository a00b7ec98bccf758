/**
 * Run at `npm run build`, after the status root is cut: bundles `status` (status-main.ts and everything it imports,
 * the Temporal client included) into one file, with the status root (batch-client/status-root.ts) in place of the
 * SDK's whole protobuf root. Node then reads, resolves and compiles one file instead of about 300 (docs/benchmarks.md).
 * The bundle sits beside the command modules, so paths its modules make from their own URL stay right. It is a
 * CommonJS script, not an ES module: Node 20 compiles a script with a V8 code cache (cli/code-cache.ts), never
 * a module.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { STATUS_ROOT_PATH, sdkProto, type StatusRootFile } from '../batch-client/status-root.js';
import { codeCacheOf } from './code-cache.js';

export const STATUS_BUNDLE_PATH = fileURLToPath(new URL('./status-bundle.cjs', import.meta.url));
const ENTRY = fileURLToPath(new URL('./status-main.js', import.meta.url));

/** The SDK's root module, built from the status root's definitions with the SDK's own protobufjs. */
function statusRootInPlace(): Plugin {
  const { rootModule } = sdkProto();
  const file = JSON.parse(readFileSync(STATUS_ROOT_PATH, 'utf8')) as StatusRootFile;
  const definitions = JSON.stringify(JSON.stringify(file.definitions));
  return {
    name: 'status-root',
    setup(bundle) {
      bundle.onLoad({ filter: /\/json-module\.js$/ }, (args) =>
        args.path === rootModule
          ? {
              contents: `module.exports = require('protobufjs/light').Root.fromJSON(JSON.parse(${definitions}));`,
              resolveDir: path.dirname(rootModule),
              loader: 'js',
            }
          : undefined,
      );
    },
  };
}

await build({
  entryPoints: [ENTRY],
  outfile: STATUS_BUNDLE_PATH,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [statusRootInPlace()],
  // Its modules find files from their own URL: a script has its file name instead.
  define: { 'import.meta.url': 'bundleUrl' },
  banner: { js: "const bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
rmSync(codeCacheOf(STATUS_BUNDLE_PATH), { force: true }); // compiled from the code this build replaced
console.log(`status bundle: ${STATUS_BUNDLE_PATH}`);
