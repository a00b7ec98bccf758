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
