/**
 * Finds a program that Go can build, or builds it: the Temporal CLI, server, SQL schema tool and
 * Web UI server. Looked for in this order: its environment variable, its name on PATH,
 * $(go env GOPATH)/bin/<name>; else `go install`ed and kept in $(go env GOPATH)/bin under its name,
 * so that the next run finds it there.
 */
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BadInputError } from '../errors.js';
import { findExecutable, isExecutable } from '../executable.js';

export interface GoBinary {
  /** How messages name it: "the Temporal server". */
  what: string;
  /** Its name on PATH and in $(go env GOPATH)/bin: `temporal-server`. */
  name: string;
  /** The Go package and version that `go install` builds: `go.temporal.io/server/cmd/server@v1.29.1`. */
  goPackage: string;
  /** The environment variable that names a binary to use instead, and how it is read (settings.ts). */
  envVar: string;
  setting: (env: NodeJS.ProcessEnv) => string | undefined;
  /** Where to get it without Go. */
  installHint?: string;
}

export interface FindOptions {
  /** Build with Go when no binary is found. */
  build?: boolean;
  log?: (message: string) => void;
  env?: NodeJS.ProcessEnv;
}

async function goBinDir(): Promise<string | undefined> {
  const result = await execa('go', ['env', 'GOPATH'], { reject: false });
  const gopath = result.exitCode === 0 ? String(result.stdout).trim().split(path.delimiter)[0] : '';
  return gopath ? path.join(gopath, 'bin') : undefined;
}

/** `go install` names a binary after its package's last path element: `cmd/tools/sql` gives `sql`. */
function installedName(goPackage: string): string {
  return path.posix.basename(goPackage.split('@')[0]);
}

export async function findGoBinary(binary: GoBinary, options: FindOptions = {}): Promise<string> {
  const { build = true, log = (message) => console.error(message), env = process.env } = options;
  const configured = binary.setting(env);
  if (configured) {
    if (await isExecutable(configured)) return configured;
    throw new BadInputError(`${binary.envVar}=${configured} is not an executable file`);
  }
  const fromPath = await findExecutable(binary.name, env);
  if (fromPath) return fromPath;
  const binDir = await goBinDir();
  const goInstall = `go install ${binary.goPackage}`;
  if (!binDir) {
    throw new BadInputError(
      `${binary.what} (${binary.name}) was not found and Go is not installed to build it. ` +
        `${binary.installHint ? `${binary.installHint}, or install` : 'Install'} Go and run: ${goInstall}`,
    );
  }
  const fromGo = path.join(binDir, binary.name);
  if (await isExecutable(fromGo)) return fromGo;
  if (!build) throw new BadInputError(`${binary.what} (${binary.name}) was not found; build it with: ${goInstall}`);
  log(`staged: building ${binary.what} with Go (${goInstall}); the first build takes minutes…`);
  await buildInto(binDir, binary);
  return fromGo;
}

/** Built in a directory of its own, then renamed: a binary called `server` or `sql` must not land on PATH as such. */
async function buildInto(binDir: string, binary: GoBinary): Promise<void> {
  await mkdir(binDir, { recursive: true });
  const buildDir = await mkdtemp(path.join(binDir, `.${binary.name}-build-`));
  try {
    const result = await execa('go', ['install', binary.goPackage], {
      env: { GOBIN: buildDir },
      reject: false,
      stdout: 'inherit',
      stderr: 'inherit',
    });
    const built = path.join(buildDir, installedName(binary.goPackage));
    if (result.exitCode !== 0 || !(await isExecutable(built))) {
      throw new BadInputError(`building ${binary.what} failed (go install ${binary.goPackage})`);
    }
    await rename(built, path.join(binDir, binary.name));
  } finally {
    await rm(buildDir, { recursive: true, force: true });
  }
}
