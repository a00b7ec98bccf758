/** The git state a batch records at submit: parsed from `git status --porcelain=v2`, read from real repositories. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parseGitStatus, readCodeState } from '../../src/batch-client/code-state.js';
import { codeLine, dirtyList, LIVE_FILES } from '../../src/model/code.js';
import { tempDir } from '../helpers/scripts.js';

const COMMIT = '4d9a81c0e1f2a3b4c5d6e7f8091a2b3c4d5e6f70';
const entries = (...fields: string[]) => fields.map((field) => `${field}\0`).join('');

describe('parseGitStatus', () => {
  test('reads the commit, the branch and every kind of change, paths with spaces and renames included', () => {
    const text = entries(
      `# branch.oid ${COMMIT}`,
      '# branch.head main',
      '# branch.upstream origin/main',
      '1 .M N... 100644 100644 100644 aaaa bbbb src/helper module.py',
      '1 A. N... 000000 100644 100644 0000 cccc experiments/exp2.py',
      '1 D. N... 100644 000000 000000 dddd 0000 old.py',
      '2 R. N... 100644 100644 100644 eeee eeee R100 src/new name.py',
      'src/old name.py',
      'u UU N... 100644 100644 100644 100644 f1 f2 f3 conflict.py',
      '? notes.txt',
      '! ignored.log',
    );
    expect(parseGitStatus(text)).toEqual({
      commit: COMMIT,
      branch: 'main',
      dirtyCount: 6,
      dirty: [
        'M src/helper module.py',
        'A experiments/exp2.py',
        'D old.py',
        'R src/old name.py -> src/new name.py',
        'UU conflict.py',
        '?? notes.txt',
      ],
    });
  });

  test('a detached HEAD has no branch; a repository without a commit has no commit', () => {
    expect(parseGitStatus(entries(`# branch.oid ${COMMIT}`, '# branch.head (detached)'))).toEqual({
      commit: COMMIT,
      dirtyCount: 0,
    });
    expect(parseGitStatus(entries('# branch.oid (initial)', '# branch.head main', '? a.py'))).toEqual({
      branch: 'main',
      dirtyCount: 1,
      dirty: ['?? a.py'],
    });
  });

  test('keeps ten dirty files by name and counts the rest', () => {
    const many = Array.from({ length: 25 }, (_, i) => `? file${i}.py`);
    const code = parseGitStatus(entries(`# branch.oid ${COMMIT}`, '# branch.head main', ...many));
    expect(code.dirty).toHaveLength(10);
    expect(code.dirtyCount).toBe(25);
    expect(dirtyList(code)).toMatch(/^\?\? file0\.py, .*\?\? file9\.py and 15 more$/);
    expect(codeLine(code, 'b-1')).toBe(`code: main @ 4d9a81c (25 dirty files) at submit; ${LIVE_FILES}`);
  });
});

describe('readCodeState', () => {
  const git = (cwd: string, ...args: string[]) =>
    execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd });

  test('a repository: its commit, branch and dirty files, also from a subdirectory', async () => {
    const dir = await tempDir('code-state');
    await git(dir, 'init', '-q', '-b', 'research');
    await mkdir(path.join(dir, 'experiments'));
    await writeFile(path.join(dir, 'experiments', 'exp1.py'), 'print(1)\n');
    await git(dir, 'add', '.');
    await git(dir, 'commit', '-q', '-m', 'first');
    const { stdout: head } = await git(dir, 'rev-parse', 'HEAD');
    await writeFile(path.join(dir, 'experiments', 'exp1.py'), 'print(2)\n');
    await writeFile(path.join(dir, 'notes.txt'), 'x\n');

    const code = await readCodeState(path.join(dir, 'experiments'));
    expect(code).toEqual({
      commit: head,
      branch: 'research',
      dirtyCount: 2,
      dirty: ['M experiments/exp1.py', '?? notes.txt'],
    });
    expect(codeLine(code, 'b-1')).toBe(`code: research @ ${head.slice(0, 7)} (2 dirty files) at submit; ${LIVE_FILES}`);
  });

  test("staged's own logs and results in the work dir are not dirty files; the rest of the repository is", async () => {
    const dir = await tempDir('code-state-own');
    await git(dir, 'init', '-q', '-b', 'main');
    const workDir = path.join(dir, 'project');
    await mkdir(path.join(workDir, '.staged', 'logs'), { recursive: true });
    await mkdir(path.join(workDir, 'results', 'batch-1'), { recursive: true });
    await writeFile(path.join(workDir, 'exp1.py'), 'print(1)\n');
    await git(dir, 'add', '.');
    await git(dir, 'commit', '-q', '-m', 'first');
    await writeFile(path.join(workDir, '.staged', 'logs', 'attempt-1.log'), 'x\n');
    await writeFile(path.join(workDir, 'results', 'batch-1', 'summary.json'), '{}\n');
    await writeFile(path.join(dir, 'notes.txt'), 'x\n');

    expect((await readCodeState(workDir)).dirty).toEqual(['?? notes.txt']);
  });

  test('not a repository, or no git at all: said so, never an error', async () => {
    const dir = await tempDir('code-state-none');
    // GIT_CEILING_DIRECTORIES: a temp dir inside someone's repository must still read as no repository.
    process.env.GIT_CEILING_DIRECTORIES = path.dirname(dir);
    try {
      expect(await readCodeState(dir)).toEqual({ noGit: 'not a git repository' });
    } finally {
      delete process.env.GIT_CEILING_DIRECTORIES;
    }
    const savedPath = process.env.PATH;
    process.env.PATH = dir;
    try {
      expect(await readCodeState(dir)).toEqual({ noGit: 'git not found' });
    } finally {
      process.env.PATH = savedPath;
    }
    expect(codeLine({ noGit: 'not a git repository' }, 'b-1')).toBe(`code: not a git repository; ${LIVE_FILES}`);
    expect(codeLine({ noGit: 'not a git repository', snapshotDir: '/w/results/b-1/code' }, 'b-1')).toBe(
      'code: snapshot results/b-1/code/ (not a git repository)',
    );
    expect(codeLine({ commit: COMMIT, branch: 'main', dirtyCount: 0, snapshotDir: '/w/results/b-1/code' }, 'b-1')).toBe(
      'code: snapshot results/b-1/code/ of main @ 4d9a81c',
    );
  });
});
