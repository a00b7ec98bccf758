/** Machine resources as people write them, the queues that route runs to machines that have them, and the ledger. */
import {
  formatAmount,
  formatResources,
  nonEmptySubsets,
  parseAmount,
  parseMachineResources,
  parseRequirements,
  requirementQueueOf,
  requirementsOf,
  resourcesInIdentity,
  runQueueOf,
  servedRootsInIdentity,
  slotsInIdentity,
  shortfallOf,
  workerQueueOf,
} from '../../src/model/requirements.js';
import { servesAll } from '../../src/batch-client/machines.js';
import { workerIdentityOf } from '../../src/worker/worker-queues.js';
import { CapacityLedger, NO_RESOURCES, NoRoomError, SLOTS } from '../../src/machine/capacity.js';

const G = 1024 ** 3;

test.each([
  ['2', 2],
  ['16G', 16 * G],
  ['16g', 16 * G],
  ['16GB', 16 * G],
  ['16GiB', 16 * G],
  ['512M', 512 * 1024 ** 2],
  ['1.5T', 1.5 * 1024 ** 4],
  ['4K', 4096],
])('amount %s is %d', (text, amount) => {
  expect(parseAmount(text)).toBe(amount);
});

test.each(['two', '16X', '16 GG', '-1', '0', '0.5', '', '1e3', 'G'])('"%s" is not an amount', (text) => {
  expect(() => parseAmount(text)).toThrow(/is not an amount/);
});

test('amounts print as they would be typed', () => {
  expect([16 * G, 2, 1536 * 1024 ** 2, 1000].map(formatAmount)).toEqual(['16G', '2', '1536M', '1000']);
});

test('a worker has counted amounts and capabilities; names are lower-cased', () => {
  expect(parseMachineResources('GPU=2, mem=64G,avx512')).toEqual({
    counted: { gpu: 2, mem: 64 * G },
    capabilities: ['avx512'],
  });
});

test.each([
  ['gpu=2,gpu=1', /gpu is given twice/],
  ['gpu=two', /gpu=two is not a count, devices or auto/],
  ['mem=16Q', /"16Q" is not an amount/],
  ['2gpu', /"2gpu" is not a resource/],
  ['gpu=1=2', /more than one "="/],
  ['a,b,c,d,e', /at most 4 resources/],
  ['gpu,', /"" is not a resource/],
])('--resources %s is refused', (text, message) => {
  expect(() => parseMachineResources(text)).toThrow(message);
});

test('an experiment needs 1 unit of a bare name, or the amount given', () => {
  expect(parseRequirements('gpu')).toEqual({ gpu: 1 });
  expect(parseRequirements('gpu=2, mem=16G')).toEqual({ gpu: 2, mem: 16 * G });
});

test('Requires: lines of a docstring, in any comment style; none gives undefined', () => {
  expect(requirementsOf('Train the model.\n\nRequires: gpu, mem=16G\n')).toEqual({ gpu: 1, mem: 16 * G });
  expect(requirementsOf('Title\n  requires: avx512\n- Requires: gpu=2')).toEqual({ avx512: 1, gpu: 2 });
  expect(requirementsOf('Title\nPriority: high')).toBeUndefined();
});

test.each([
  ['Requires: gpu=two', /malformed line "Requires: gpu=two": "two" is not an amount/],
  ['Requires: mem=16X', /malformed line "Requires: mem=16X": "16X" is not an amount/],
  ['Requires:', /malformed line "Requires:"/],
  ['Requires: gpu\nRequires: gpu=2', /gpu is required twice/],
])('%j is malformed', (text, message) => {
  expect(() => requirementsOf(text)).toThrow(message);
});

test('requirement queues are named from the task queue and the sorted names', () => {
  expect(requirementQueueOf('staged', ['mem', 'gpu'])).toBe('staged@needs:gpu+mem');
  expect(runQueueOf('staged', { mem: 1, gpu: 2 })).toBe('staged@needs:gpu+mem');
  expect(runQueueOf('staged', undefined)).toBe('staged');
  expect(runQueueOf('staged', {})).toBe('staged');
});

test('a machine polls one queue per non-empty subset of its names, and every routed run finds its queue', () => {
  const subsets = nonEmptySubsets(['mem', 'gpu', 'avx512']);
  expect(subsets).toHaveLength(7);
  expect(new Set(subsets.map((names) => names.join('+')))).toEqual(
    new Set(['avx512', 'gpu', 'mem', 'avx512+gpu', 'avx512+mem', 'gpu+mem', 'avx512+gpu+mem']),
  );
  const polled = new Set(subsets.map((names) => requirementQueueOf('q', names)));
  expect(polled.has(runQueueOf('q', { mem: 1, gpu: 1 }))).toBe(true);
  expect(polled.has(runQueueOf('q', { tpu: 1 }))).toBe(false);
});

test('shortfall: what a machine lacks for a run; capabilities are never used up', () => {
  const machine = parseMachineResources('gpu=1,mem=64G,avx512');
  expect(shortfallOf({ gpu: 1, avx512: 5 }, machine)).toEqual([]);
  expect(shortfallOf({ gpu: 2, tpu: 1 }, machine)).toEqual(['gpu=2 (has 1)', 'tpu']);
  expect(formatResources({ mem: 16 * G, gpu: 2 })).toBe('gpu=2, mem=16G');
});

test("a worker's identity carries the directories it serves and its resources; status and submit read them", () => {
  const machine = parseMachineResources('gpu=2,avx512');
  const identity = workerIdentityOf('box-1', machine, ['/home/ann/proj a', '/srv/b,c']);
  expect(identity).toMatch(/^\d+@box-1 serves=\/home\/ann\/proj%20a,\/srv\/b%2Cc resources=gpu=2,avx512$/);
  expect(resourcesInIdentity(identity)).toEqual(machine);
  expect(servedRootsInIdentity(identity)).toEqual(['/home/ann/proj a', '/srv/b,c']);
  expect(workerQueueOf('q', identity)).toBe(`q@worker:${process.pid}@box-1`);
  const plain = workerIdentityOf('box-1', { counted: {}, capabilities: [] }, ['/x']);
  expect(plain).toMatch(/^\d+@box-1 serves=\/x$/);
  expect(resourcesInIdentity(plain)).toBeUndefined();
  expect(resourcesInIdentity('1234@box-2')).toBeUndefined();
  expect(servedRootsInIdentity('1234@box-2')).toBeUndefined();
  expect(workerIdentityOf('box-1', machine, ['/' + 'd'.repeat(1000)])).toMatch(/^\d+@box-1 resources=gpu=2,avx512$/);
});

test("a worker's identity carries its --slots and its runs directory's digest, read by status", () => {
  const machine = parseMachineResources('gpu=2');
  const counts = { slots: 3, runsDir: '/home/ann/.staged/runs/server-x/staged' };
  const identity = workerIdentityOf('box-1', machine, ['/srv/a b'], counts);
  expect(identity).toMatch(/^\d+@box-1 slots=3 runs=[0-9a-f]{8} serves=\/srv\/a%20b resources=gpu=2$/);
  expect(slotsInIdentity(identity)).toEqual({ slots: 3, runs: expect.stringMatching(/^[0-9a-f]{8}$/) });
  expect(slotsInIdentity(workerIdentityOf('box-2', machine, ['/x'], counts)).runs).toBe(slotsInIdentity(identity).runs);
  expect(slotsInIdentity(workerIdentityOf('box-1', machine, ['/x'], { ...counts, runsDir: '/other' })).runs).not.toBe(
    slotsInIdentity(identity).runs,
  );
  expect(resourcesInIdentity(identity)).toEqual(machine);
  expect(servedRootsInIdentity(identity)).toEqual(['/srv/a b']);
  expect(workerQueueOf('q', identity)).toBe(`q@worker:${process.pid}@box-1`);
  expect(slotsInIdentity('1234@box-2 serves=/x')).toEqual({});
});

test('a worker serves a directory inside one of its roots, by whole path segments', () => {
  expect(servesAll(['/a/b'], ['/a/b', '/a/b/c'])).toBe(true);
  expect(servesAll(['/a/b'], ['/a/bc'])).toBe(false);
  expect(servesAll(['/a/b', '/x'], ['/a/b/e', '/x/w'])).toBe(true);
  expect(servesAll(['/a/b'], ['/a/b/e', '/x/w'])).toBe(false);
});

describe('the capacity ledger of one machine', () => {
  const noWait = () => new Promise<void>((resolve) => setTimeout(resolve, 5));
  const slotOf = (...runKeys: string[]) => new Map(runKeys.map((runKey) => [runKey, { [SLOTS]: 1 }]));

  test('never holds more than the machine has: a second claim waits until the first is released', async () => {
    const ledger = new CapacityLedger(parseMachineResources('gpu=1'), 10);
    const first = await ledger.claim('a.run-1', 'q@needs:gpu', { gpu: 1 }, noWait);
    expect(ledger.mayTake(['gpu'])).toBe(false);
    let secondHeld = false;
    const second = ledger.claim('b.run-1', 'q@needs:gpu', { gpu: 1 }, noWait).then((release) => {
      secondHeld = true;
      return release;
    });
    await noWait();
    expect(secondHeld).toBe(false);
    expect(ledger.heldNow()).toEqual({ gpu: 1, [SLOTS]: 1 });
    first();
    (await second)();
    expect(secondHeld).toBe(true);
    expect(ledger.heldNow()).toEqual({ gpu: 0, [SLOTS]: 0 });
  });

  test('a run needing more than the machine has in all is handed back at once', async () => {
    const ledger = new CapacityLedger(parseMachineResources('gpu=1'), 10);
    await expect(ledger.claim('a.run-1', 'q@needs:gpu', { gpu: 2 }, noWait)).rejects.toThrow(NoRoomError);
    await expect(ledger.claim('a.run-1', 'q@needs:gpu', { gpu: 2 }, noWait)).rejects.toThrow(/needs gpu=2 \(has 1\)/);
    expect(ledger.mayTake(['gpu'])).toBe(true);
    expect(ledger.heldNow()[SLOTS]).toBe(0);
  });

  test('a task taken counts a slot and its units until its run claims; capabilities never block', async () => {
    const ledger = new CapacityLedger(parseMachineResources('gpu=1,avx512'), 2);
    const placeholder = ledger.taskTaken('q@needs:avx512+gpu', ['avx512', 'gpu']);
    expect(ledger.mayTake(['gpu'])).toBe(false);
    expect(ledger.mayTake(['avx512'])).toBe(true);
    ledger.taskTaken('q', []);
    expect(ledger.mayTake([])).toBe(false); // two tasks in hand on a machine of 2 slots
    const release = await ledger.claim('a.run-1', 'q@needs:avx512+gpu', { gpu: 1, avx512: 1 }, noWait);
    expect(placeholder.settled).toBe(true);
    expect(ledger.mayTake(['gpu'])).toBe(false);
    release();
    expect(ledger.mayTake(['avx512', 'gpu'])).toBe(true);
  });

  test('an adopted run holds its slot and amounts at once, even past what is free', () => {
    const ledger = new CapacityLedger(parseMachineResources('gpu=1'), 1);
    const first = ledger.hold('a.run-1', { gpu: 1 });
    const second = ledger.hold('b.run-1', { gpu: 1 });
    expect(ledger.heldNow()).toEqual({ gpu: 2, [SLOTS]: 2 });
    first();
    first();
    second();
    expect(ledger.heldNow()).toEqual({ gpu: 0, [SLOTS]: 0 });
  });

  test('--slots is a counted resource: each run holds one, whatever it requires', async () => {
    const ledger = new CapacityLedger(parseMachineResources('avx512'), 2);
    const first = await ledger.claim('a.run-1', 'q', {}, noWait);
    expect(ledger.mayTake([])).toBe(true);
    const second = await ledger.claim('b.run-1', 'q', { avx512: 1 }, noWait);
    expect(ledger.mayTake([])).toBe(false);
    let thirdHeld = false;
    const third = ledger.claim('c.run-1', 'q', {}, noWait).then((release) => {
      thirdHeld = true;
      return release;
    });
    await noWait();
    expect(thirdHeld).toBe(false);
    first();
    (await third)();
    second();
    expect(ledger.heldNow()).toEqual({ [SLOTS]: 0 });
  });

  test('a run waiting for units holds its slot: the machine takes no other task meanwhile', async () => {
    const ledger = new CapacityLedger(parseMachineResources('gpu=1'), 2);
    const first = await ledger.claim('a.run-1', 'q@needs:gpu', { gpu: 1 }, noWait);
    const second = ledger.claim('b.run-1', 'q@needs:gpu', { gpu: 1 }, noWait);
    await noWait();
    expect(ledger.mayTake([])).toBe(false);
    first();
    (await second)();
    expect(ledger.mayTake([])).toBe(true);
  });

  test('two tasks of a queue, one claims and one ends unclaimed: no placeholder is left, in either order', async () => {
    const ledger = new CapacityLedger(NO_RESOURCES, 2);
    ledger.taskTaken('q', []); // task A: its script is still being checked
    ledger.taskTaken('q', []); // task B
    expect(ledger.mayTake([])).toBe(false);
    const releaseB = await ledger.claim('b.run-1', 'q', {}, noWait); // B claims first
    ledger.unclaimed('q'); // A is refused (or handed back) without claiming
    expect(ledger.mayTake([])).toBe(true); // B's run holds one slot of 2, nothing else
    releaseB();
    ledger.unclaimed('q'); // a stray end with no placeholder left changes nothing
    expect(ledger.heldNow()[SLOTS]).toBe(0);
  });

  test('a reservation waiting for a change ends with the abort reason when the SDK aborts it', async () => {
    const ledger = new CapacityLedger(parseMachineResources('gpu=1'), 1);
    const controller = new AbortController();
    const waiting = ledger.changed(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toBe(controller.signal.reason);
  });

  test('runs left alive here by an earlier worker count until this one holds them', async () => {
    const ledger = new CapacityLedger(parseMachineResources('gpu=2'), 10);
    ledger.setLeftOver(new Map([['old.run-1', { [SLOTS]: 1, gpu: 1 }]]));
    expect(ledger.mayTake(['gpu'])).toBe(true);
    let claimed = false;
    const claim = ledger.claim('a.run-1', 'q@needs:gpu', { gpu: 2 }, noWait).then((release) => {
      claimed = true;
      return release;
    });
    await noWait();
    expect(claimed).toBe(false);
    ledger.setLeftOver(new Map());
    (await claim)();
    expect(claimed).toBe(true);
  });

  test('a worker restarted beside three runs it adopts starts no more on 3 slots until one ends', async () => {
    const ledger = new CapacityLedger(NO_RESOURCES, 3);
    ledger.setLeftOver(slotOf('a.run-1', 'b.run-1', 'c.run-1'));
    expect(ledger.mayTake([])).toBe(false);
    let started = false;
    const start = ledger.claim('d.run-1', 'q', {}, noWait).then((release) => {
      started = true;
      return release;
    });
    const adopted = ['a.run-1', 'b.run-1', 'c.run-1'].map((runKey) => ledger.hold(runKey, {}));
    await noWait();
    expect(ledger.heldNow()).toEqual({ [SLOTS]: 3 });
    expect(started).toBe(false);
    adopted[0](); // a.run-1 ended: its activity let go, and the next read of the run directories misses it
    ledger.setLeftOver(slotOf('b.run-1', 'c.run-1'));
    (await start)();
    expect(started).toBe(true);
  });

  test('an adopted run read on disk and held counts once; after its release, as left over until it ends', () => {
    const ledger = new CapacityLedger(parseMachineResources('gpu=1'), 2);
    ledger.setLeftOver(new Map([['a.run-1', { [SLOTS]: 1, gpu: 1 }]]));
    const release = ledger.hold('a.run-1', { gpu: 1 });
    expect(ledger.heldNow()).toEqual({ gpu: 1, [SLOTS]: 1 });
    expect(ledger.mayTake([])).toBe(true);
    release(); // the worker let go of it; it lives on here until a read says it ended
    expect(ledger.heldNow()).toEqual({ gpu: 1, [SLOTS]: 1 });
    ledger.setLeftOver(new Map());
    expect(ledger.heldNow()).toEqual({ gpu: 0, [SLOTS]: 0 });
  });

  test('a claim reads the runs here first, leaving out the runs this worker holds', async () => {
    const onDisk = slotOf('mine.run-1', 'neighbour.run-1');
    const readers: string[][] = [];
    const ledger = new CapacityLedger(NO_RESOURCES, 2, (isHeld) => {
      const runs = new Map([...onDisk].filter(([runKey]) => !isHeld(runKey)));
      readers.push([...runs.keys()]);
      return Promise.resolve(runs);
    });
    const mine = ledger.hold('mine.run-1', {});
    let started = false;
    const start = ledger.claim('new.run-1', 'q', {}, noWait).then((release) => {
      started = true;
      return release;
    });
    await noWait();
    expect(readers[0]).toEqual(['neighbour.run-1']);
    expect(started).toBe(false); // its run and the neighbour's fill both slots
    onDisk.delete('neighbour.run-1');
    (await start)();
    mine();
  });
});
