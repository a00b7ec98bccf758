/** A script run with a V8 code cache: compiled from it when it fits, written anew when it does not. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { codeCacheOf, runWithCodeCache } from '../../src/cli/code-cache.js';
import { tempDir } from '../helpers/scripts.js';

async function scriptIn(dir: string, name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, body);
  return file;
}

test('the first run compiles and writes the cache; the next is compiled from it, with the same exports', async () => {
  const dir = await tempDir('code-cache');
  const file = await scriptIn(dir, 'double.cjs', 'exports.double = (n) => 2 * n; exports.name = __filename;');

  const first = runWithCodeCache<{ double(n: number): number; name: string }>(file);
  expect(first.fromCache).toBe(false);
  expect(first.exports.double(21)).toBe(42);
  first.keepCache();
  const cache = await readFile(codeCacheOf(file));
  expect(cache.length).toBeGreaterThan(0);

  const second = runWithCodeCache<{ double(n: number): number; name: string }>(file);
  expect(second.fromCache).toBe(true);
  expect([second.exports.double(4), second.exports.name]).toEqual([8, file]);
  second.keepCache(); // from the cache: nothing to write
  expect(await readFile(codeCacheOf(file))).toEqual(cache);
});

test("another script's cache is rejected, and replaced by this one's", async () => {
  const dir = await tempDir('code-cache-other');
  const other = await scriptIn(dir, 'other.cjs', "exports.answer = 'other';");
  const file = await scriptIn(dir, 'this.cjs', "exports.answer = 'this';");
  runWithCodeCache(other).keepCache();
  await writeFile(codeCacheOf(file), await readFile(codeCacheOf(other)));

  const run = runWithCodeCache<{ answer: string }>(file);
  expect([run.fromCache, run.exports.answer]).toEqual([false, 'this']);
  run.keepCache();
  expect(runWithCodeCache(file).fromCache).toBe(true);
});

test('a cache that cannot be written leaves the script running as before', async () => {
  const dir = await tempDir('code-cache-unwritable');
  const file = await scriptIn(dir, 'plain.cjs', 'exports.ok = true;');
  const run = runWithCodeCache<{ ok: boolean }>(file, path.join(dir, 'no-such-dir', 'cache'));
  expect(() => run.keepCache()).not.toThrow();
  expect(run.exports.ok).toBe(true);
});
