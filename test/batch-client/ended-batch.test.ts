/** What a user hears of a batch that has ended when asking it for something: staged's words, not Temporal's. */
import { endedBatchError } from '../../src/batch-client/batches.js';

test("an ended batch's refusal names how it ended in staged's words, and nothing when it completed", () => {
  const said = (status?: string) => endedBatchError('b1', 'nothing to cancel', status).message;
  expect(said()).toBe('batch b1 has ended: nothing to cancel');
  expect(said('COMPLETED')).toBe('batch b1 has ended: nothing to cancel'); // may hold failed experiments
  expect(said('CANCELED')).toBe('batch b1 has ended (cancelled): nothing to cancel'); // was Temporal's "canceled"
  expect(said('TIMED_OUT')).toBe('batch b1 has ended (timed out): nothing to cancel');
});
