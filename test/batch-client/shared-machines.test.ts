/** Machines where several live workers count the same runs, from the pollers' identities. */
import { sharedMachinesAmong } from '../../src/batch-client/shared-machines.js';
import { sharedMachineLine } from '../../src/cli/display/render.js';

const NOW = 1_000_000_000;
const poll = (identity: string, agoMs = 1_000) => ({ identity, lastPollAt: NOW - agoMs });

test('two live workers of one machine counting one runs directory: shared, at most the larger --slots at once', () => {
  const pollers = [
    poll('11@far-box slots=3 runs=aaaa1111 serves=/x'),
    poll('12@far-box slots=2 runs=aaaa1111 serves=/x resources=gpu=1'),
    poll('13@far-box slots=4 runs=bbbb2222 serves=/x'), // another runs directory: counts other runs
    poll('14@other-box slots=2 runs=aaaa1111 serves=/x'), // another machine
  ];
  const shared = sharedMachinesAmong(pollers, NOW);
  expect(shared).toEqual([
    {
      machineId: 'far-box',
      workers: [
        { pid: 11, slots: 3 },
        { pid: 12, slots: 2 },
      ],
      atOnce: 3,
    },
  ]);
  expect(sharedMachineLine(shared[0])).toBe(
    '[WORKERS] 2 live workers of machine far-box count the same runs (pid 11 --slots 3, pid 12 --slots 2): each ' +
      'counts every run alive there against its own --slots, so together they run at most 3 at once, as one worker ' +
      'with --slots 3 would; run one worker per machine (docs/resources.md, "Limits")',
  );
});

test('a worker that polled no more for 75 s, or that does not say its slots (an older staged), is not counted', () => {
  expect(
    sharedMachinesAmong(
      [poll('11@far-box slots=3 runs=aaaa1111'), poll('12@far-box slots=2 runs=aaaa1111', 80_000)],
      NOW,
    ),
  ).toEqual([]);
  expect(sharedMachinesAmong([poll('11@far-box slots=3 runs=aaaa1111'), poll('12@far-box serves=/x')], NOW)).toEqual(
    [],
  );
});
