/**
 * `submit --snapshot`: copies the code a batch runs (the experiments directory, and the config's `snapshot`
 * paths) into `results/<id>/code/`, keeping each path's place relative to the work dir. Files are copied
 * (a reflink where the file system has them), never hard-linked: an editor that rewrites a file in place
 * would change a hard-linked copy too.
 */
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { BadInputError } from '../errors.js';
import { isInside } from '../paths.js';

export const DEFAULT_SNAPSHOT_LIMIT_BYTES = 200 * 1024 ** 2;
/** The directory under `results/<id>/` holding the copy; an experiment of that name would share it. */
export const SNAPSHOT_DIR_NAME = 'code';
/** Never copied, wherever they are: version control, installed packages, caches. */
const SKIPPED_NAMES = new Set(['.git', 'node_modules', '__pycache__']);
/** Never copied from the work dir's top: the batches' results (the copy itself lives there) and staged's state. */
const SKIPPED_TOP = new Set(['results', '.staged']);
/** Paths named when a snapshot is too big. */
const BIGGEST_SHOWN = 5;
const PARALLEL_COPIES = 8;

export interface SnapshotRequest {
  /** Paths relative to the work dir; the experiments directory is always copied as well. */
  paths: string[];
  limitBytes: number;
}

interface SnapshotEntry {
  /** Relative to the work dir. */
  relative: string;
  kind: 'dir' | 'file' | 'link';
  bytes: number;
}

export interface SnapshotPlan {
  workDir: string;
  /** The copied paths as given, relative to the work dir, none inside another. */
  roots: string[];
  /** Parents before their children. */
  entries: SnapshotEntry[];
  bytes: number;
}

/**
 * What to copy, when anything: `--snapshot` copies the config's `snapshot` paths (or only the experiments
 * directory), and so does a config that names paths, without the flag. `--snapshot-limit` beats the config's.
 */
export function snapshotRequest(
  flag: boolean,
  flagLimit: number | undefined,
  config: { snapshot?: string[]; snapshotLimit?: number },
): SnapshotRequest | undefined {
  if (!flag && !config.snapshot) return undefined;
  return {
    paths: config.snapshot ?? [],
    limitBytes: flagLimit ?? config.snapshotLimit ?? DEFAULT_SNAPSHOT_LIMIT_BYTES,
  };
}

/**
 * Lists what `request` copies, refusing (bad input: nothing is submitted) a path outside the work dir or
 * missing, an experiments directory outside the work dir, and a total over the limit.
 */
export async function planSnapshot(
  workDir: string,
  experimentsDir: string,
  request: SnapshotRequest,
): Promise<SnapshotPlan> {
  if (!isInside(workDir, experimentsDir)) {
    throw new BadInputError(
      `--snapshot: the experiments directory ${experimentsDir} must be inside the work dir ${workDir}, ` +
        'where the copy keeps its place',
    );
  }
  const roots = topmost([experimentsDir, ...request.paths].map((given) => rootOf(workDir, given)));
  const entries: SnapshotEntry[] = [];
  for (const root of roots) {
    await lstat(path.join(workDir, root)).catch(() => {
      throw new BadInputError(`snapshot: ${root} does not exist in the work dir ${workDir}`);
    });
    for (const parent of parentsOf(root)) entries.push({ relative: parent, kind: 'dir', bytes: 0 });
    await walk(workDir, root, entries);
  }
  const unique = [...new Map(entries.map((entry) => [entry.relative, entry])).values()];
  const bytes = unique.reduce((sum, entry) => sum + entry.bytes, 0);
  if (bytes > request.limitBytes) throw new BadInputError(tooBigMessage(unique, bytes, request.limitBytes));
  return { workDir, roots, entries: unique, bytes };
}

/** Copies the plan into `destination` (created), each path at its place relative to the work dir. */
export async function copySnapshot(plan: SnapshotPlan, destination: string): Promise<void> {
  await mkdir(destination, { recursive: true });
  for (const entry of plan.entries) {
    if (entry.kind === 'dir') await mkdir(path.join(destination, entry.relative), { recursive: true });
  }
  const others = plan.entries.filter((entry) => entry.kind !== 'dir');
  for (let at = 0; at < others.length; at += PARALLEL_COPIES) {
    await Promise.all(
      others.slice(at, at + PARALLEL_COPIES).map((entry) => copyEntry(plan.workDir, entry, destination)),
    );
  }
}

/** The copies an `add` placed in a snapshot: `undo` when the batch refuses the add, `keep` once it is accepted. */
export interface AddedCopies {
  undo(): Promise<void>;
  keep(): Promise<void>;
}

interface AddedCopy {
  source: string;
  target: string;
  /** The copy taken at submit of a script no experiment of the batch runs, kept until the add is accepted. */
  replaced?: string;
}

/**
 * `add` to a batch with a snapshot: the added scripts join its copy as they are now, in place before the Update
 * is sent (a run never finds its script missing). A copy that experiments of the batch run is never replaced:
 * an added script that differs from it is refused, as bad input, before anything is written.
 */
export async function snapshotAdded(
  settings: { workDir: string; experimentsDir: string; code?: { snapshotDir?: string } },
  added: readonly { name: string; file: string }[],
  inBatch: readonly { file: string }[],
): Promise<AddedCopies> {
  const snapshot = settings.code?.snapshotDir;
  if (!snapshot) return { undo: () => Promise.resolve(), keep: () => Promise.resolve() };
  refuseSnapshotNameClash(added.map((experiment) => experiment.name));
  const scriptsDir = path.join(snapshot, path.relative(settings.workDir, settings.experimentsDir));
  const used = new Set(inBatch.map((experiment) => experiment.file));
  const copies: AddedCopy[] = [];
  for (const file of new Set(added.map((experiment) => experiment.file))) {
    const copy: AddedCopy = { source: path.join(settings.experimentsDir, file), target: path.join(scriptsDir, file) };
    const copied = await readFile(copy.target).catch(() => undefined);
    if (copied?.equals(await readFile(copy.source))) continue;
    if (copied && used.has(file)) {
      throw new BadInputError(
        `${file} has changed since the batch's copy of it was taken, and experiments of the batch run that copy: ` +
          'nothing was added. Save the new version under another name and add that, or submit a new batch',
      );
    }
    if (copied) copy.replaced = `${copy.target}.replaced`;
    copies.push(copy);
  }
  await mkdir(scriptsDir, { recursive: true });
  await placeCopies(copies);
  return {
    undo: () => undoCopies(copies),
    keep: async () => {
      for (const { replaced } of copies) if (replaced) await rm(replaced, { force: true });
    },
  };
}

async function placeCopies(copies: AddedCopy[]): Promise<void> {
  try {
    for (const { source, target } of copies) {
      await copyFile(source, `${target}.adding`, constants.COPYFILE_FICLONE);
    }
  } catch (err) {
    await Promise.all(copies.map(({ target }) => rm(`${target}.adding`, { force: true })));
    throw err;
  }
  for (const { target, replaced } of copies) {
    if (replaced) await copyFile(target, replaced);
    // Copied beside, then renamed: a copy is never seen half-written.
    await rename(`${target}.adding`, target);
  }
}

async function undoCopies(copies: AddedCopy[]): Promise<void> {
  for (const { target, replaced } of copies) {
    if (replaced) await rename(replaced, target);
    else await rm(target, { force: true });
  }
}

/** An experiment named like the snapshot's directory would write its results into the copy. */
export function refuseSnapshotNameClash(names: readonly string[]): void {
  if (names.includes(SNAPSHOT_DIR_NAME)) {
    throw new BadInputError(
      `--snapshot keeps the code in results/<batchId>/${SNAPSHOT_DIR_NAME}/, where experiment ` +
        `"${SNAPSHOT_DIR_NAME}" keeps its results: rename the script, or submit without a snapshot`,
    );
  }
}

async function copyEntry(workDir: string, entry: SnapshotEntry, destination: string): Promise<void> {
  const source = path.join(workDir, entry.relative);
  const target = path.join(destination, entry.relative);
  // A link stays a link: what it points to is not part of the snapshot.
  if (entry.kind === 'link') await symlink(await readlink(source), target);
  else await copyFile(source, target, constants.COPYFILE_FICLONE);
}

function rootOf(workDir: string, given: string): string {
  const absolute = path.resolve(workDir, given);
  if (!isInside(workDir, absolute)) {
    throw new BadInputError(`snapshot: ${given} is outside the work dir ${workDir}; list paths inside it`);
  }
  const relative = path.relative(workDir, absolute);
  if (SKIPPED_TOP.has(relative.split(path.sep)[0])) {
    throw new BadInputError(`snapshot: ${given} is inside ${relative.split(path.sep)[0]}/, which is never copied`);
  }
  return relative === '' ? '.' : relative;
}

/** The paths not inside another of them, in the order given. */
function topmost(roots: string[]): string[] {
  const inside = (root: string, other: string) =>
    other === '.' || isInside(path.resolve('/', other), path.resolve('/', root));
  const unique = [...new Set(roots)];
  return unique.filter((root) => !unique.some((other) => other !== root && inside(root, other)));
}

/** `a/b/c` → `a`, `a/b`: the directories a copied path sits in. */
function parentsOf(relative: string): string[] {
  const parts = relative.split(path.sep).slice(0, -1);
  return parts.map((_, index) => parts.slice(0, index + 1).join(path.sep)).filter((part) => part !== '.');
}

async function walk(workDir: string, relative: string, entries: SnapshotEntry[]): Promise<void> {
  const info = await lstat(path.join(workDir, relative));
  if (info.isSymbolicLink()) {
    entries.push({ relative, kind: 'link', bytes: 0 });
    return;
  }
  if (info.isFile()) {
    entries.push({ relative, kind: 'file', bytes: info.size });
    return;
  }
  if (!info.isDirectory()) return; // sockets, fifos: nothing a script imports
  if (relative !== '.') entries.push({ relative, kind: 'dir', bytes: 0 });
  const children = await readdir(path.join(workDir, relative));
  for (const child of children.sort()) {
    if (SKIPPED_NAMES.has(child) || (relative === '.' && SKIPPED_TOP.has(child))) continue;
    await walk(workDir, relative === '.' ? child : path.join(relative, child), entries);
  }
}

function tooBigMessage(entries: SnapshotEntry[], bytes: number, limitBytes: number): string {
  const byPlace = new Map<string, number>();
  for (const entry of entries) {
    if (entry.kind !== 'file') continue;
    const parts = entry.relative.split(path.sep);
    const place = parts.length > 2 ? `${parts.slice(0, 2).join('/')}/` : parts.join('/');
    byPlace.set(place, (byPlace.get(place) ?? 0) + entry.bytes);
  }
  const biggest = [...byPlace.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, BIGGEST_SHOWN)
    .map(([place, size]) => `${place} ${formatSize(size)}`);
  return (
    `the snapshot would copy ${formatSize(bytes)}, over the limit of ${formatSize(limitBytes)}; nothing was ` +
    `submitted. Biggest: ${biggest.join(', ')}. Move what is not code out of the copied paths (--dir and ` +
    'staged.config.json\'s "snapshot"), or raise --snapshot-limit ("snapshotLimit")'
  );
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)}K`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)}M`;
  return `${(bytes / 1024 ** 3).toFixed(2)}G`;
}
