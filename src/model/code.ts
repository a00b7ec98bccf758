/**
 * The code a batch was submitted with: the work dir's git state at submit and, with `--snapshot`, the copy
 * every run of the batch uses. Workflow-safe: no I/O here, only the shape and how it reads.
 */

/** Dirty files kept by name; past this, only their number (a batch's settings travel with every experiment). */
export const DIRTY_FILES_KEPT = 10;

export interface CodeState {
  /** Why nothing is known of git (`not a git repository`, `git not found`); absent when the state was read. */
  noGit?: string;
  /** The commit checked out (full hash); absent before the first commit. */
  commit?: string;
  /** The branch checked out; absent on a detached HEAD. */
  branch?: string;
  /** Files changed since the commit, and untracked ones, as git shows them (`M src/a.py`, `?? notes.txt`). */
  dirty?: string[];
  /** How many files are dirty in all; `dirty` names at most DIRTY_FILES_KEPT of them. */
  dirtyCount?: number;
  /** Absolute directory holding the copy runs use (`results/<id>/code`); absent without --snapshot. */
  snapshotDir?: string;
}

const shortCommit = (commit: string) => commit.slice(0, 7);

/** `main @ 4d9a81c (3 dirty files)`, `detached HEAD @ 4d9a81c`, `not a git repository`. */
export function gitDescription(code: CodeState): string {
  if (code.noGit) return code.noGit;
  const where = code.branch ?? 'detached HEAD';
  const at = code.commit ? `${where} @ ${shortCommit(code.commit)}` : `${where}, no commit yet`;
  const dirty = code.dirtyCount ?? 0;
  return dirty ? `${at} (${dirty} dirty file${dirty === 1 ? '' : 's'})` : at;
}

/** Without a snapshot a run, a retry included, runs the work dir's files as they are when it starts. */
export const LIVE_FILES = 'each run uses the files as they are when it starts (no --snapshot)';

/**
 * `status`'s one line: `code: main @ 4d9a81c (3 dirty files) at submit; each run uses the files as they are …`, or
 * with a snapshot `code: snapshot results/<id>/code/ of main @ 4d9a81c` (the copy shown where it is in the work dir).
 */
export function codeLine(code: CodeState, batchId: string): string {
  if (code.snapshotDir) return `code: ${codeText(code, batchId)}`;
  return `code: ${codeText(code, batchId)}${code.noGit ? '' : ' at submit'}; ${LIVE_FILES}`;
}

/** The code line without its label: `snapshot results/<id>/code/ of main @ 4d9a81c`. */
export function codeText(code: CodeState, batchId: string): string {
  const git = gitDescription(code);
  if (!code.snapshotDir) return git;
  const copy = `results/${batchId}/code/`;
  return code.noGit ? `snapshot ${copy} (${git})` : `snapshot ${copy} of ${git}`;
}

/** The dirty files by name, `and N more` past those kept: `M src/a.py, ?? notes.txt and 8 more`. */
export function dirtyList(code: CodeState): string {
  const named = code.dirty ?? [];
  const more = (code.dirtyCount ?? named.length) - named.length;
  return named.join(', ') + (more > 0 ? ` and ${more} more` : '');
}
