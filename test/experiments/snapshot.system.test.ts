/**
 * The code as submitted (docs/code.md): with --snapshot, a script edited while it waits in the queue, and the
 * module it imports from src/, run as they were at submit, on every attempt; without it, the edited script runs.
 * Every batch records the work dir's git commit, branch and dirty files in its memo, summary and status.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { LIVE_FILES, type CodeState } from '../../src/model/code.js';
import type { BatchSummary } from '../../src/model/types.js';
import { stagedBinary } from '../helpers/cli.js';
import { until } from '../helpers/processes.js';
import { tempDir } from '../helpers/scripts.js';
import { useTestServer, workerOnOwnQueue } from '../helpers/temporal.js';

const server = useTestServer();
/** Long enough for a batch of three short Python runs, a retry and a wait, on a loaded machine. */
const BATCH_MS = 90_000;

/** What a run wrote: which versions of its script and of src/helper.py it ran, and its code dir. */
interface RunLine {
  experiment: string;
  attempt: number;
  script: string;
  helper: string;
  codeDir: string;
}

/** The user's own `PYTHONPATH=.` (relative to the work dir, where runs start): a snapshot must still win. */
let savedPythonPath: string | undefined;
beforeAll(() => {
  savedPythonPath = process.env.PYTHONPATH;
  process.env.PYTHONPATH = '.';
});
afterAll(() => {
  if (savedPythonPath === undefined) delete process.env.PYTHONPATH;
  else process.env.PYTHONPATH = savedPythonPath;
});

/** Python that records this run's versions in `journal`; `then` runs after. */
function experiment(title: string, journal: string, then: string): string {
  return [
    `"""${title}"""`,
    'import os, sys, time',
    'from src.helper import MARK',
    'SCRIPT = "old"',
    `with open(${JSON.stringify(journal)}, "a") as journal:`,
    '    env = os.environ',
    '    fields = [env["STAGED_EXPERIMENT"], env["STAGED_ATTEMPT"], SCRIPT, MARK, env["STAGED_CODE_DIR"]]',
    '    journal.write(" ".join(fields) + "\\n")',
    then,
    '',
  ].join('\n');
}

/**
 * A git repository as a research repo is: experiments/ and src/, committed, with one untracked file.
 * exp1 holds the queue (max-concurrent 1) until `release` exists; exp2 fails its first attempt.
 */
async function researchRepo(config?: object) {
  const work = await tempDir('snapshot-work');
  const outside = await tempDir('snapshot-control'); // the test's own files: not code, not dirty
  const journal = path.join(outside, 'journal');
  const release = path.join(outside, 'release');
  const counter = path.join(outside, 'exp2-attempts');
  await mkdir(path.join(work, 'experiments'));
  await mkdir(path.join(work, 'src'));
  await writeFile(path.join(work, 'src', 'helper.py'), 'MARK = "old"\n');
  const waitForRelease =
    `deadline = time.time() + 120\n` +
    `while not os.path.exists(${JSON.stringify(release)}) and time.time() < deadline:\n    time.sleep(0.05)`;
  const failFirst =
    `path = ${JSON.stringify(counter)}\n` +
    'count = int(open(path).read()) + 1 if os.path.exists(path) else 1\n' +
    'open(path, "w").write(str(count))\n' +
    'sys.exit(1 if count == 1 else 0)';
  await writeFile(path.join(work, 'experiments', 'exp1_first.py'), experiment('First run.', journal, waitForRelease));
  await writeFile(path.join(work, 'experiments', 'exp2_second.py'), experiment('Second run.', journal, failFirst));
  await writeFile(path.join(work, '.gitignore'), '.staged/\nresults/\n');
  if (config) await writeFile(path.join(work, 'staged.config.json'), JSON.stringify(config));
  const git = (...args: string[]) =>
    execa('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: work });
  await git('init', '-q', '-b', 'research');
  await git('add', '.');
  await git('commit', '-q', '-m', 'experiments');
  await writeFile(path.join(work, 'notes.txt'), 'not committed\n');
  const commit = (await git('rev-parse', 'HEAD')).stdout;
  const runs = async (): Promise<RunLine[]> => {
    const text = await readFile(journal, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name, attempt, script, helper, codeDir] = line.split(' ');
        return { experiment: name, attempt: Number(attempt), script, helper, codeDir };
      })
      .sort((a, b) => a.experiment.localeCompare(b.experiment) || a.attempt - b.attempt);
  };
  /** Edits exp2 (still queued) and the helper module it imports, in place. */
  const editCode = async () => {
    const exp2 = path.join(work, 'experiments', 'exp2_second.py');
    await writeFile(exp2, (await readFile(exp2, 'utf8')).replace('SCRIPT = "old"', 'SCRIPT = "new"'));
    await writeFile(path.join(work, 'src', 'helper.py'), 'MARK = "new"\n');
  };
  return { work, journal, release, commit, runs, editCode };
}

async function submitAndEdit(repo: Awaited<ReturnType<typeof researchRepo>>, batchId: string, extra: string[]) {
  const { taskQueue, worker } = await workerOnOwnQueue(server.env, 2, [repo.work]);
  const env = { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: taskQueue };
  const staged = (args: string[]) => stagedBinary(args, { cwd: repo.work, env });
  return worker.runUntil(async () => {
    const submit = ['submit', '--batch-id', batchId, '--max-concurrent', '1', '--retry-delay', '1s', '--detach'];
    const submitted = await staged([...submit, ...extra]);
    expect(submitted.exitCode).toBe(0);
    await until(async () => (await repo.runs()).length > 0, BATCH_MS, 'exp1 to start');
    // `add` while exp1 holds the queue: the added script joins the copy, then is edited too.
    const exp3 = path.join(repo.work, 'experiments', 'exp3_added.py');
    await writeFile(exp3, experiment('Added run.', repo.journal, 'pass'));
    const added = await staged(['add', batchId, 'experiments/exp3_added.py']);
    expect(added.exitCode).toBe(0);
    await writeFile(exp3, (await readFile(exp3, 'utf8')).replace('SCRIPT = "old"', 'SCRIPT = "new"'));
    await repo.editCode();
    const whileRunning = await staged(['status', batchId]);
    const whileRunningJson = await staged(['status', batchId, '--json']);
    await writeFile(repo.release, '');
    await server.env.client.workflow.getHandle(batchId).result();
    const memo = (await server.env.client.workflow.getHandle(batchId).describe()).memo;
    return { staged, submitted, whileRunning, whileRunningJson, memo };
  });
}

test(
  '"snapshot" in staged.config.json: a queued script and the src/ module it imports, edited after submit, run ' +
    'as submitted, on the retry too, and an added script as added; memo, summary and status show the git state',
  async () => {
    const repo = await researchRepo({ snapshot: ['experiments/', 'src/'] });
    const { staged, whileRunning, whileRunningJson, memo, submitted } = await submitAndEdit(repo, 'snap-1', []);
    expect(submitted.stdout).toContain('[SNAPSHOT] experiments/, src/ copied to results/snap-1/code/ (3 files, ');
    const copy = path.join(repo.work, 'results', 'snap-1', 'code');

    const runs = await repo.runs();
    expect(runs).toEqual([
      { experiment: 'exp1_first', attempt: 1, script: 'old', helper: 'old', codeDir: copy },
      { experiment: 'exp2_second', attempt: 1, script: 'old', helper: 'old', codeDir: copy },
      { experiment: 'exp2_second', attempt: 2, script: 'old', helper: 'old', codeDir: copy },
      { experiment: 'exp3_added', attempt: 1, script: 'old', helper: 'old', codeDir: copy },
    ]);
    expect(await readFile(path.join(copy, 'experiments', 'exp2_second.py'), 'utf8')).toContain('SCRIPT = "old"');

    const code: CodeState = {
      commit: repo.commit,
      branch: 'research',
      dirtyCount: 1,
      dirty: ['?? notes.txt'],
      snapshotDir: copy,
    };
    expect(memo?.code).toEqual(code);
    const line = `code: snapshot results/snap-1/code/ of research @ ${repo.commit.slice(0, 7)} (1 dirty file)`;
    expect(whileRunning.stdout.split('\n').slice(0, 2)).toEqual(['Batch snap-1: running', line]);
    expect(JSON.parse(whileRunningJson.stdout).code).toEqual(code);
    const summary = JSON.parse(await readFile(path.join(repo.work, 'results', 'snap-1', 'summary.json'), 'utf8'));
    expect((summary as BatchSummary).code).toEqual(code);
    const markdown = await readFile(path.join(repo.work, 'results', 'snap-1', 'summary.md'), 'utf8');
    expect(markdown).toContain(`Code: snapshot results/snap-1/code/ of research @ ${repo.commit.slice(0, 7)}`);
    expect(markdown).toContain('Dirty files at submit: ?? notes.txt');
    const finished = await staged(['status', 'snap-1']);
    expect(finished.stdout).toContain(line);
  },
);

test('without --snapshot, the edited script and module run; the batch still records the git state', async () => {
  const repo = await researchRepo();
  const { whileRunning } = await submitAndEdit(repo, 'live-1', []);

  expect(
    (await repo.runs()).map(({ experiment, attempt, script, helper }) => [experiment, attempt, script, helper]),
  ).toEqual([
    ['exp1_first', 1, 'old', 'old'],
    ['exp2_second', 1, 'new', 'new'],
    ['exp2_second', 2, 'new', 'new'],
    ['exp3_added', 1, 'new', 'new'],
  ]);
  expect((await repo.runs())[0].codeDir).toBe(repo.work);
  expect(whileRunning.stdout).toContain(
    `code: research @ ${repo.commit.slice(0, 7)} (1 dirty file) at submit; ${LIVE_FILES}`,
  );
});

test('a snapshot over the limit is refused with exit 2, naming the biggest paths; nothing is submitted', async () => {
  const repo = await researchRepo();
  await writeFile(path.join(repo.work, 'experiments', 'weights.bin'), Buffer.alloc(3 * 1024 * 1024));
  const refused = await stagedBinary(['submit', '--snapshot', '--snapshot-limit', '2M', '--batch-id', 'big-1'], {
    cwd: repo.work,
    env: { TEMPORAL_ADDRESS: server.env.address, STAGED_TASK_QUEUE: 'nobody' },
  });
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr).toMatch(/the snapshot would copy 3\.0M, over the limit of 2\.0M; nothing was submitted/);
  expect(refused.stderr).toContain('Biggest: experiments/weights.bin 3.0M');
  await expect(readFile(path.join(repo.work, 'results', 'big-1', 'batch.json'))).rejects.toThrow(/ENOENT/);
});
