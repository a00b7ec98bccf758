/** The lease's age in awake time: the arithmetic alone (keeper-sleep.system.test.ts runs it in a real keeper). */
import { LeaseClock } from '../../src/keeper/lease-clock.js';

const HOUR = 3_600_000;

test('a lease ages with awake time only: a sleep of the whole machine costs nothing', () => {
  const clock = new LeaseClock();
  expect(clock.observe(1_000, 1_500, 10)).toMatchObject({ awakeMs: 500, wallMs: 500 });
  expect(clock.observe(1_000, 3_500, 2_010)).toMatchObject({ awakeMs: 2_500, wallMs: 2_500 });
  // Suspended for an hour: the wall clock moved on, the monotonic clock did not.
  expect(clock.observe(1_000, 3_600 + HOUR, 2_110)).toMatchObject({ awakeMs: 2_600, wallMs: HOUR + 2_600 });
});

test('an unrenewed lease ages with awake time; a renewal makes it young again', () => {
  const clock = new LeaseClock();
  clock.observe(0, 0, 0);
  expect(clock.observe(0, 9_000, 9_000)!.awakeMs).toBe(9_000);
  expect(clock.observe(8_500, 9_000, 9_000)!.awakeMs).toBe(500);
  expect(clock.observe(8_500, 12_000, 12_000)!.awakeMs).toBe(3_500);
});

test('a stamp written after a sleep for a contact made before it is not aged by the sleep', () => {
  const clock = new LeaseClock();
  clock.observe(10_000, 10_200, 200);
  // Contact at 11 000 just before an hour of sleep; the worker wrote the stamp on waking.
  expect(clock.observe(11_000, 11_500 + HOUR, 1_400)!.awakeMs).toBe(400);
});

test('no lease: no age (the keeper does not stop its run for a lease it never had)', () => {
  expect(new LeaseClock().observe(undefined, 5_000, 5_000)).toBeUndefined();
});

test('a clock set back does not make a lease older than its awake age', () => {
  const clock = new LeaseClock();
  clock.observe(10_000, 10_000, 0);
  expect(clock.observe(10_000, 4_000, 1_000)).toMatchObject({ awakeMs: 1_000, wallMs: 0 });
});
