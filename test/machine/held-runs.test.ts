import { HeldRuns } from '../../src/machine/held-runs.js';

test('a run adopted again while its first holder lets go of it stays held until both are done', () => {
  const held = new HeldRuns();
  held.add('wf.run-1'); // the activity the server gave up on
  held.add('wf.run-1'); // its adoption, here again
  held.delete('wf.run-1'); // the first lets go
  expect(held.has('wf.run-1')).toBe(true); // a Set said false here: the orphan check took the run for unheld
  held.delete('wf.run-1');
  expect(held.has('wf.run-1')).toBe(false);
  held.delete('wf.run-1'); // once more changes nothing
  held.add('wf.run-1');
  expect(held.has('wf.run-1')).toBe(true);
});
