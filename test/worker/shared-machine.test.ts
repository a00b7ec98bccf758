/** What a worker says as it starts beside other live workers counting the same runs. */
import { sharedMachineLine } from '../../src/worker/shared-machine.js';

test('with --slots no larger than the others: it adds no capacity', () => {
  expect(sharedMachineLine([{ pid: 11, slots: 3 }], 2, '/r/server-x/q')).toBe(
    '[WARN] another live worker of this machine (pid 11, --slots 3) counts the runs of its runs directory ' +
      "/r/server-x/q: every run alive there counts against this worker's --slots 2 too, so it adds no capacity (the " +
      'machine runs at most 3 at once, as without this worker); run one worker per machine, with the --slots you ' +
      'want (docs/resources.md, "Limits")',
  );
});

test('with a larger --slots: only the difference; several others named', () => {
  const others = [
    { pid: 11, slots: 3 },
    { pid: 12, slots: 1 },
  ];
  const line = sharedMachineLine(others, 4, '/r');
  expect(line).toMatch(
    /^\[WARN\] 2 other live workers of this machine \(pid 11, --slots 3; pid 12, --slots 1\) count /,
  );
  expect(line).toMatch(/so it adds only 1 \(the machine runs at most 4 at once, as with this worker alone\);/);
});

test('beside a worker of another directory (two projects): its runs wait for slots, one worker serves both', () => {
  const line = sharedMachineLine([{ pid: 11, slots: 4, serves: ['/home/ann/a'] }], 3, '/r', ['/home/ann/b']);
  expect(line).toContain("counts against this worker's --slots 3 too, so the runs of /home/ann/b, which only ");
  expect(line).toContain('this worker serves, start only while fewer than 3 runs of any directory are alive here; ');
  expect(line).toMatch(
    /; run one worker per machine, serving every directory \(--allow-dir \/home\/ann\/a \/home\/ann\/b\), /,
  );
  expect(line).not.toContain('adds no capacity');
});

test('a directory inside one the other serves, or another worker not saying what it serves: the capacity line', () => {
  const inside = sharedMachineLine([{ pid: 11, slots: 3, serves: ['/home/ann'] }], 2, '/r', ['/home/ann/b']);
  expect(inside).toMatch(/so it adds no capacity .*; run one worker per machine, with the --slots you want/);
  const unsaid = sharedMachineLine([{ pid: 11, slots: 3 }], 2, '/r', ['/home/ann/b']);
  expect(unsaid).toMatch(/so it adds no capacity/);
});
