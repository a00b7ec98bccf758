/**
 * Runs a CommonJS script with a V8 code cache beside it, so that what one run compiled is not compiled again:
 * Node 20 has no compile cache of its own. The cache lives beside the code, with its owner (whoever can write it
 * could change the code itself). V8 checks that a cache fits this code and this Node, and rejects one that does not.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export interface CachedScript<Exports> {
  exports: Exports;
  /** The code was compiled from the cache. */
  fromCache: boolean;
  /** Unless the code came from the cache: writes it anew, with every function compiled so far. Never throws. */
  keepCache: () => void;
}

type ModuleFunction = (
  exports: unknown,
  require: NodeJS.Require,
  module: { exports: unknown },
  filename: string,
  dirname: string,
) => void;

export function codeCacheOf(file: string): string {
  return `${file}.v8-cache`;
}

/** Runs `file` as Node runs a CommonJS module, compiled with its code cache when there is one that fits. */
export function runWithCodeCache<Exports>(file: string, cacheFile = codeCacheOf(file)): CachedScript<Exports> {
  const cachedData = readIfThere(cacheFile);
  // One line of wrapper, as Node's own: line numbers in stack traces stay those of the file.
  const script = new vm.Script(
    `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`,
    {
      filename: file,
      cachedData,
    },
  );
  const module = { exports: {} as Exports };
  (script.runInThisContext() as ModuleFunction)(module.exports, createRequire(file), module, file, path.dirname(file));
  const fromCache = cachedData !== undefined && !script.cachedDataRejected;
  return {
    exports: module.exports,
    fromCache,
    keepCache: () => {
      if (!fromCache) writeReplacing(cacheFile, script.createCachedData());
    },
  };
}

function readIfThere(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Whole or not at all: two commands that finish together each rename a file of their own over it. */
function writeReplacing(file: string, data: Buffer): void {
  const partial = `${file}.${process.pid}.partial`;
  try {
    writeFileSync(partial, data);
    renameSync(partial, file);
  } catch {
    rmSync(partial, { force: true }); // an install the user cannot write: each command compiles as before
  }
}
