/** A quota's maxConcurrent slots, as its budget workflow keeps them. */
import { newSlots, releaseSlot, requestSlot, slotView } from '../../src/budget/slots.js';

test('grants up to maxConcurrent, then serves the waiting by priority, then first come', () => {
  const slots = newSlots(2);
  expect(requestSlot(slots, { holder: 'a', priorityKey: 3 }, 2)).toEqual(['a']);
  expect(requestSlot(slots, { holder: 'b', priorityKey: 3 }, 2)).toEqual(['b']);
  expect(requestSlot(slots, { holder: 'low', priorityKey: 4 }, 2)).toEqual([]);
  expect(requestSlot(slots, { holder: 'medium', priorityKey: 3 }, 2)).toEqual([]);
  expect(requestSlot(slots, { holder: 'critical', priorityKey: 1 }, 2)).toEqual([]);
  expect(slotView(slots)).toEqual({ maxConcurrent: 2, running: 2, waiting: 3 });
  expect(releaseSlot(slots, 'a')).toEqual(['critical']);
  expect(releaseSlot(slots, 'b')).toEqual(['medium']);
  expect(releaseSlot(slots, 'critical')).toEqual(['low']);
});

test('a holder asking again is told again, and is never counted twice', () => {
  const slots = newSlots(1);
  requestSlot(slots, { holder: 'a', priorityKey: 3 }, 1);
  expect(requestSlot(slots, { holder: 'a', priorityKey: 3 }, 1)).toEqual(['a']);
  requestSlot(slots, { holder: 'b', priorityKey: 3 }, 1);
  requestSlot(slots, { holder: 'b', priorityKey: 3 }, 1);
  expect(slotView(slots)).toEqual({ maxConcurrent: 1, running: 1, waiting: 1 });
});

test('a waiting request is withdrawn by its release; releasing an unknown holder grants nothing', () => {
  const slots = newSlots(1);
  requestSlot(slots, { holder: 'a', priorityKey: 3 }, 1);
  requestSlot(slots, { holder: 'b', priorityKey: 3 }, 1);
  expect(releaseSlot(slots, 'b')).toEqual([]);
  expect(releaseSlot(slots, 'nobody')).toEqual([]);
  expect(releaseSlot(slots, 'a')).toEqual([]);
  expect(slotView(slots)).toEqual({ maxConcurrent: 1, running: 0, waiting: 0 });
});

test('a raised maxConcurrent grants the waiting at once; a lowered one lets holders finish', () => {
  const slots = newSlots(1);
  requestSlot(slots, { holder: 'a', priorityKey: 3 }, 1);
  requestSlot(slots, { holder: 'b', priorityKey: 3 }, 1);
  expect(requestSlot(slots, { holder: 'c', priorityKey: 3 }, 3)).toEqual(['b', 'c']);
  expect(requestSlot(slots, { holder: 'd', priorityKey: 3 }, 1)).toEqual([]);
  expect(releaseSlot(slots, 'a')).toEqual([]);
  expect(releaseSlot(slots, 'b')).toEqual([]);
  expect(releaseSlot(slots, 'c')).toEqual(['d']);
});
