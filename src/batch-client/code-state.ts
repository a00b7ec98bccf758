/**
 * The work dir's git state at submit: commit, branch and dirty files. Never fails a submit: no git binary,
 * no repository, or a git that errs is recorded as such (`noGit`).
 */
import { execa } from 'execa';
import { DIRTY_FILES_KEPT, type CodeState } from '../model/code.js';

/** A huge repository's status must not hold a submit for long; past this, its state is recorded as unknown. */
const GIT_TIMEOUT_MS = 15_000;

/** The whole repository, less what staged itself writes in the work dir: its logs and results are not code. */
const PATHS = ['--', ':/', ':(exclude).staged', ':(exclude)results'];

export async function readCodeState(workDir: string): Promise<CodeState> {
  const result = await execa('git', ['--no-optional-locks', 'status', '--porcelain=v2', '--branch', '-z', ...PATHS], {
    cwd: workDir,
    reject: false,
    timeout: GIT_TIMEOUT_MS,
    stripFinalNewline: false,
    // Never prompts, never reads a pager: this runs under `submit`.
    env: { GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
  });
  if (result.exitCode === 0) return parseGitStatus(result.stdout);
  const errorText = typeof result.stderr === 'string' ? result.stderr : '';
  if ((result as { code?: string }).code === 'ENOENT') return { noGit: 'git not found' };
  if (/not a git repository/i.test(errorText)) return { noGit: 'not a git repository' };
  if (result.timedOut) return { noGit: `git status took over ${GIT_TIMEOUT_MS / 1000}s` };
  const firstLine = errorText.split('\n').find((line) => line.trim()) ?? `exit code ${result.exitCode}`;
  return { noGit: `git status failed: ${firstLine.trim()}` };
}

/**
 * `git status --porcelain=v2 --branch -z` → commit, branch and dirty files. Each entry is NUL-terminated; a
 * rename or copy (`2 …`) is followed by its original path as one more field.
 */
export function parseGitStatus(text: string): CodeState {
  const fields = text.split('\0');
  const code: CodeState = {};
  const dirty: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    if (field.startsWith('# branch.oid ')) {
      const oid = field.slice('# branch.oid '.length);
      if (oid !== '(initial)') code.commit = oid;
    } else if (field.startsWith('# branch.head ')) {
      const head = field.slice('# branch.head '.length);
      if (head !== '(detached)') code.branch = head;
    } else if (field.startsWith('1 ') || field.startsWith('u ')) {
      // `1 XY sub mH mI mW hH hI path`; `u XY sub m1 m2 m3 mW h1 h2 h3 path`: the path may hold spaces.
      dirty.push(`${changeOf(field)} ${afterFields(field, field.startsWith('1 ') ? 8 : 10)}`);
    } else if (field.startsWith('2 ')) {
      // `2 XY sub mH mI mW hH hI Xscore path`, then the original path as the next field.
      dirty.push(`${changeOf(field)} ${fields[i + 1]} -> ${afterFields(field, 9)}`);
      i++;
    } else if (field.startsWith('? ')) {
      dirty.push(`?? ${field.slice(2)}`);
    }
  }
  code.dirtyCount = dirty.length;
  if (dirty.length) code.dirty = dirty.slice(0, DIRTY_FILES_KEPT);
  return code;
}

/** `XY` as `git status --short` shows it, an unchanged side (`.`) as a space, trimmed: `M`, `A`, `D`, `RM`. */
function changeOf(field: string): string {
  return field.slice(2, 4).replaceAll('.', ' ').trim();
}

/** The rest of `field` after its first `count` space-separated fields. */
function afterFields(field: string, count: number): string {
  let at = 0;
  for (let n = 0; n < count; n++) at = field.indexOf(' ', at) + 1;
  return field.slice(at);
}
