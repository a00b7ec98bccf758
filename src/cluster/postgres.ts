/**
 * The cluster's PostgreSQL: Debian's binaries (installed with apt when missing and we are root), a
 * data directory of its own under `.staged/cluster/postgres`, listening on TCP only. PostgreSQL
 * refuses to run as root: then initdb and the server run as the `postgres` user, which owns the data.
 */
import { randomBytes } from 'node:crypto';
import { chown, mkdir, readdir, readFile, realpath, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { BadInputError } from '../errors.js';
import { findExecutable, isExecutable } from '../executable.js';
import { runningPidOf, startDetached, stopDetached } from '../server/background.js';
import { clusterFiles, postgresDataDir, postgresPasswordFile } from './layout.js';

const DEBIAN_POSTGRES_ROOT = '/usr/lib/postgresql';
const SETPRIV = '/usr/bin/setpriv';
/** The owner of Temporal's databases; its password is made at initdb and kept in `.staged/cluster/`. */
export const POSTGRES_USER = 'temporal';
const READY_TIMEOUT_MS = 60_000;

export interface Postgres {
  binDir: string;
  /** How its programs run: as the `postgres` user when we are root. */
  asUser: (file: string, args: string[]) => [string, string[]];
}

const isRoot = () => process.getuid?.() === 0;

/** Debian keeps each major version in /usr/lib/postgresql/<version>/bin; the newest wins. */
async function debianBinDir(): Promise<string | undefined> {
  const versions = await readdir(DEBIAN_POSTGRES_ROOT).catch(() => [] as string[]);
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const binDir = path.join(DEBIAN_POSTGRES_ROOT, version, 'bin');
    if (await isExecutable(path.join(binDir, 'initdb'))) return binDir;
  }
  return undefined;
}

async function pathBinDir(): Promise<string | undefined> {
  const initdb = await findExecutable('initdb');
  if (!initdb) return undefined;
  return path.dirname(await realpath(initdb));
}

async function aptInstallPostgres(log: (message: string) => void): Promise<void> {
  log('staged: PostgreSQL is not installed; installing it with apt-get (postgresql)…');
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execa('apt-get', ['install', '-y', 'postgresql'], { env, reject: false, stdio: 'inherit' });
  if ((await install()).exitCode === 0) return;
  await execa('apt-get', ['update'], { env, reject: false, stdio: 'inherit' });
  if ((await install()).exitCode !== 0) throw new BadInputError('apt-get install -y postgresql failed');
}

async function userIds(name: string): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const fields = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .find((entry) => entry[0] === name);
  return fields ? { uid: Number(fields[2]), gid: Number(fields[3]) } : undefined;
}

/** Finds PostgreSQL, installing it with apt when we are root; otherwise says what to install. */
export async function findPostgres(log: (message: string) => void): Promise<Postgres> {
  let binDir = (await debianBinDir()) ?? (await pathBinDir());
  if (!binDir) {
    if (!isRoot()) {
      throw new BadInputError(
        'PostgreSQL is not installed: install it (Debian/Ubuntu: sudo apt-get install postgresql), ' +
          'or put its initdb and postgres on PATH',
      );
    }
    await aptInstallPostgres(log);
    binDir = await debianBinDir();
    if (!binDir) throw new BadInputError(`apt installed postgresql, but no initdb is in ${DEBIAN_POSTGRES_ROOT}`);
  }
  if (!isRoot()) return { binDir, asUser: (file, args) => [file, args] };
  if (!(await userIds('postgres')) || !(await isExecutable(SETPRIV))) {
    throw new BadInputError(
      'PostgreSQL refuses to run as root and there is no `postgres` user (or no setpriv) to run it as: ' +
        'run cluster up as another user, or install postgresql with apt (it creates the user)',
    );
  }
  return {
    binDir,
    asUser: (file, args) => [SETPRIV, ['--reuid=postgres', '--regid=postgres', '--init-groups', file, ...args]],
  };
}

/** The password of POSTGRES_USER, made on the first `up`. */
export async function postgresPassword(workDir: string): Promise<string> {
  return (await readFile(postgresPasswordFile(workDir), 'utf8')).trim();
}

async function chownToPostgres(files: string[]): Promise<void> {
  if (!isRoot()) return;
  const ids = (await userIds('postgres'))!;
  for (const file of files) await chown(file, ids.uid, ids.gid);
}

/** Creates the data directory with initdb on the first `up`; later ones find it. */
export async function ensureDataDir(postgres: Postgres, workDir: string): Promise<void> {
  const dataDir = postgresDataDir(workDir);
  if (await readFile(path.join(dataDir, 'PG_VERSION'), 'utf8').catch(() => undefined)) return;
  const passwordFile = postgresPasswordFile(workDir);
  // The parents keep the usual mode: the postgres user must reach its data through them.
  await mkdir(path.dirname(dataDir), { recursive: true });
  await checkReachable(postgres, path.dirname(dataDir));
  await mkdir(dataDir, { mode: 0o700 });
  await writeFile(passwordFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  await chownToPostgres([dataDir, passwordFile]);
  const [file, args] = postgres.asUser(path.join(postgres.binDir, 'initdb'), [
    '--pgdata',
    dataDir,
    '--username',
    POSTGRES_USER,
    `--pwfile=${passwordFile}`,
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    '--no-locale',
  ]);
  const result = await execa(file, args, { reject: false, all: true });
  if (result.exitCode !== 0) throw new BadInputError(`initdb failed for ${dataDir}:\n${String(result.all).trim()}`);
}

/** As root, PostgreSQL runs as `postgres`, which must be able to enter every directory above its data. */
async function checkReachable(postgres: Postgres, dir: string): Promise<void> {
  const enters = async (target: string) => {
    const [file, args] = postgres.asUser('/usr/bin/test', ['-x', target]);
    return (await execa(file, args, { reject: false })).exitCode === 0;
  };
  if (await enters(dir)) return;
  let blocking = dir;
  for (let parent = path.dirname(dir); parent !== blocking && !(await enters(parent)); parent = path.dirname(parent)) {
    blocking = parent;
  }
  throw new BadInputError(
    `PostgreSQL runs as the postgres user, which cannot enter ${blocking}: ` +
      `allow it (chmod o+x ${blocking}) or use a --work-dir it can reach`,
  );
}

interface PostgresAddress {
  host: string;
  port: number;
}

/** Starts the server in the background unless it runs; resolves once it accepts connections. */
export async function startPostgres(postgres: Postgres, workDir: string, address: PostgresAddress): Promise<void> {
  const files = clusterFiles(workDir, 'postgres');
  if (runningPidOf(files) === undefined) {
    const [file, args] = postgres.asUser(path.join(postgres.binDir, 'postgres'), [
      '-D',
      postgresDataDir(workDir),
      '-p',
      String(address.port),
      '-c',
      `listen_addresses=${address.host}`,
      // TCP only: a socket path in the work dir could exceed the kernel's 107 bytes.
      '-c',
      'unix_socket_directories=',
    ]);
    startDetached(files, file, args, { cwd: workDir });
  }
  await waitForPostgres(postgres, workDir, address);
}

async function waitForPostgres(postgres: Postgres, workDir: string, address: PostgresAddress): Promise<void> {
  const files = clusterFiles(workDir, 'postgres');
  const pgIsReady = path.join(postgres.binDir, 'pg_isready');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (runningPidOf(files) === undefined) {
      throw new Error(`PostgreSQL exited at start: see ${files.logFile}\n${await logTail(files.logFile)}`);
    }
    const args = ['-h', address.host, '-p', String(address.port), '-t', '1'];
    if ((await execa(pgIsReady, args, { reject: false })).exitCode === 0) return;
    if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections in 60 s: see ${files.logFile}`);
    await delay(200);
  }
}

/** Fast shutdown (SIGINT to the postmaster): sessions end, a checkpoint is written, then it exits. */
export async function stopPostgres(workDir: string): Promise<boolean> {
  return stopDetached(clusterFiles(workDir, 'postgres'), { leaderSignal: 'SIGINT', graceMs: 30_000 });
}

export async function logTail(file: string, lines = 15): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
