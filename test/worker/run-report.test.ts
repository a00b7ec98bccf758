/** The worker's lines about runs it does not start: names capped, counted words. */
import {
  AdoptedRuns,
  foundRunsLines,
  HeldBackLines,
  LetGoRuns,
  LostRuns,
  LostWhileHeldRuns,
  lostRunsLine,
  namedRuns,
  ShutdownRuns,
} from '../../src/worker/run-report.js';
import { runNameOf } from '../../src/machine/runs-found.js';
import { runKeyOf } from '../../src/keeper/run-files.js';
import { until } from '../helpers/processes.js';

test('a run key reads as the run: batch/experiment (run N)', () => {
  expect(runNameOf(runKeyOf('batch-1/exp 1[lr=0.1]', 2))).toBe('batch-1/exp 1[lr=0.1] (run 2)');
  expect(runNameOf('odd-name')).toBe('odd-name');
});

test('at most 5 runs are named, the others counted', () => {
  const names = ['b/e1 (run 1)', 'b/e2 (run 1)', 'b/e3 (run 1)', 'b/e4 (run 1)', 'b/e5 (run 1)', 'b/e6 (run 1)'];
  expect(namedRuns(names.slice(0, 5))).toBe(names.slice(0, 5).join(', '));
  expect(namedRuns([...names, 'b/e7 (run 2)'])).toBe(`${names.slice(0, 5).join(', ')} and 2 more`);
});

test('one line per stop: none when it let go of no run', () => {
  const stop = new ShutdownRuns();
  expect(stop.line()).toBeUndefined();
  stop.add(runKeyOf('b/e1', 1), 'leave');
  expect(stop.line()).toBe('left 1 run running for the next worker on this machine to adopt: b/e1 (run 1)');
  stop.add(runKeyOf('b/e2', 3), 'stop');
  expect(stop.line()).toMatch(
    /to adopt: b\/e1 \(run 1\); stopped 1 run \(--on-shutdown stop; each runs again\): b\/e2/,
  );
});

test("runs found at start: left ones (not yet said adopted), and another live worker's by its pid", () => {
  const heldByOthers = new Map([[42, ['b/e3 (run 1)', 'b/e4 (run 1)']]]);
  expect(foundRunsLines({ left: ['b/e1 (run 1)', 'b/e2 (run 1)'], heldByOthers: new Map() })).toEqual([
    '2 runs left by an earlier worker on this machine wait to be adopted: b/e1 (run 1), b/e2 (run 1)',
  ]);
  expect(foundRunsLines({ left: ['b/e1 (run 1)'], heldByOthers })).toEqual([
    '1 run left by an earlier worker on this machine waits to be adopted: b/e1 (run 1)',
    '2 runs alive here are held by another live worker of this machine (pid 42), not this one: ' +
      'b/e3 (run 1), b/e4 (run 1)',
  ]);
  expect(foundRunsLines({ left: [], heldByOthers: new Map() })).toEqual([]);
});

test('runs adopted: one line for those gathered, a run this worker let go of said apart', () => {
  const said: string[] = [];
  const adopted = new AdoptedRuns((line) => said.push(line));
  adopted.flush();
  expect(said).toEqual([]);
  adopted.add(runKeyOf('b/e2', 1), false);
  adopted.add(runKeyOf('b/e3', 2), false);
  adopted.add(runKeyOf('b/e4', 1), true);
  adopted.flush();
  expect(said).toEqual([
    'adopting 2 runs left by an earlier worker on this machine: b/e2 (run 1), b/e3 (run 2); ' +
      'adopting again 1 run this worker let go of: b/e4 (run 1)',
  ]);
  adopted.flush();
  expect(said).toHaveLength(1);
});

test('adoptions are said by themselves, once the gathering time has passed', async () => {
  const said: string[] = [];
  const adopted = new AdoptedRuns((line) => said.push(line), 20);
  adopted.add(runKeyOf('b/e5', 1), false);
  expect(said).toEqual([]);
  await until(() => said.length === 1, 5_000, 'the adoption line');
  expect(said).toEqual(['adopting 1 run left by an earlier worker on this machine: b/e5 (run 1)']);
});

test('lost runs: one line for those gathered, each said once though the orphan check and its adoption find it', () => {
  const said: string[] = [];
  const lost = new LostRuns((line) => said.push(line));
  lost.add(runKeyOf('b/e1', 1));
  lost.add(runKeyOf('b/e2', 3));
  lost.flush();
  lost.add(runKeyOf('b/e1', 1)); // its adoption, after the orphan check
  lost.flush();
  expect(said).toEqual([
    '2 runs lost: their keeper died without recording an end; what they left is stopped and each runs again ' +
      '(no retry used), not adopted: b/e1 (run 1), b/e2 (run 3)',
  ]);
  expect(lostRunsLine(['b/e3 (run 1)'])).toBe(
    '1 run lost: its keeper died without recording an end; what it left is stopped and it runs again ' +
      '(no retry used), not adopted: b/e3 (run 1)',
  );
});

test('runs lost while this worker held them: one line, each said once, without "not adopted"', () => {
  const said: string[] = [];
  const lost = new LostWhileHeldRuns((line) => said.push(line));
  lost.add(runKeyOf('b/e1', 1));
  lost.add(runKeyOf('b/e2', 2));
  lost.add(runKeyOf('b/e1', 1));
  lost.flush();
  expect(said).toEqual([
    '2 runs lost: their keeper died without recording an end while this worker held them; what they left is ' +
      'stopped and each runs again (no retry used): b/e1 (run 1), b/e2 (run 2)',
  ]);
});

test('lines held back wait for their release, in order, and are said at once after it', () => {
  const said: string[] = [];
  const lines = new HeldBackLines((line) => said.push(line));
  lines.say('a');
  lines.say('b');
  expect(said).toEqual([]);
  lines.release();
  lines.say('c');
  expect(said).toEqual(['a', 'b', 'c']);
});

test('a run adopted again before its activity told of its let-go has the let-go said first, once', () => {
  const said: string[] = [];
  const runs = new LetGoRuns((line) => said.push(line));
  const early = runKeyOf('b/e1', 1);
  const told = runKeyOf('b/e2', 1);
  runs.add(told);
  runs.sayBeforeAdoption(early); // before: said only when its activity told, after the adoption's line
  runs.sayBeforeAdoption(told);
  runs.add(early); // its activity's word, at its heartbeat: said already
  runs.flush();
  expect(said).toEqual([expect.stringMatching(/^let go of 2 runs: .*: b\/e1 \(run 1\), b\/e2 \(run 1\)$/)]);
  runs.add(early); // let go of again later (another sleep): said again
  runs.flush();
  expect(said).toHaveLength(2);
  const paused = runKeyOf('b/e3', 1);
  runs.add(paused, 'paused');
  runs.sayBeforeAdoption(paused); // told already, with its own words: no "gave up" line
  expect(said.slice(2)).toEqual([
    expect.stringMatching(/^let go of 1 run: its activity was paused on the server; .*: b\/e3 \(run 1\)$/),
  ]);
});

test('runs let go of because the server gave up on them are said in one line', () => {
  const runKey = runKeyOf('b/e1', 2);
  const said: string[] = [];
  const runs = new LetGoRuns((line) => said.push(line));
  runs.add(runKey);
  runs.add(runKeyOf('b/e2', 1));
  runs.flush();
  expect(said).toEqual([
    'let go of 2 runs: the server gave up on them (no heartbeat reached it in time: this machine slept or lost ' +
      'contact); they run on here, waiting to be adopted again: b/e1 (run 2), b/e2 (run 1)',
  ]);
});
