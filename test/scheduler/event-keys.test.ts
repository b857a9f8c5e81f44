// Event keys and debounce (SPEC rule 20): a key fired again for the same event
// within the window makes no runs; a debounced trigger makes one run of a burst,
// due `debounce` ms after its last firing, with the last payload.
import { expect, test } from 'vitest';
import { EventTrigger, ValidationError } from '../../src/index.js';
import { nextEvent } from '../../src/testing.js';
import { createHarness } from '../helpers/setup.js';

const HOUR = 3600_000;

test('a key fired again for the same event within 24 h makes no runs; after the window it does', async () => {
  const { scheduler, clock } = createHarness();
  await scheduler.addTask({ name: 'alarm', triggers: [new EventTrigger({ event: 'door-open' })] });
  await scheduler.addTask({ name: 'log', triggers: [new EventTrigger({ event: 'door-open' })] });
  expect(await scheduler.fireEvent('door-open', { n: 1 }, { key: 'msg-1' })).toBe(2);
  expect(await scheduler.fireEvent('door-open', { n: 1 }, { key: 'msg-1' })).toBe(0);
  expect(await scheduler.fireEventRuns('door-open', { n: 1 }, { key: 'msg-1' })).toEqual([]);
  expect(await scheduler.fireEvent('door-open', { n: 2 }, { key: 'msg-2' })).toBe(2);
  expect(await scheduler.fireEvent('door-open', { n: 3 })).toBe(2); // no key: always fires
  // Keys are per event.
  await scheduler.addTask({ name: 'other', triggers: [new EventTrigger({ event: 'window-open' })] });
  expect(await scheduler.fireEvent('window-open', null, { key: 'msg-1' })).toBe(1);
  // A repeat inside the window does not extend it.
  await clock.advance(23 * HOUR);
  expect(await scheduler.fireEvent('door-open', { n: 1 }, { key: 'msg-1' })).toBe(0);
  await clock.advance(HOUR);
  expect(await scheduler.fireEvent('door-open', { n: 1 }, { key: 'msg-1' })).toBe(2);
  expect(await scheduler.fireEvent('door-open', { n: 1 }, { key: 'msg-1' })).toBe(0);
});

test('eventKeyWindow sets how long a key is remembered; an event with no listener still spends its key', async () => {
  const { scheduler, clock } = createHarness({ eventKeyWindow: 60_000 });
  expect(await scheduler.fireEvent('ping', null, { key: 'a' })).toBe(0);
  await scheduler.addTask({ name: 'pong', triggers: [new EventTrigger({ event: 'ping' })] });
  expect(await scheduler.fireEvent('ping', null, { key: 'a' })).toBe(0);
  await clock.advance(60_000);
  expect(await scheduler.fireEvent('ping', null, { key: 'a' })).toBe(1);
});

test('two schedulers firing one key at once make one set of runs', async () => {
  const harness = createHarness();
  const other = harness.reopen();
  await harness.scheduler.addTask({ name: 'alarm', triggers: [new EventTrigger({ event: 'door-open' })] });
  for (let round = 0; round < 10; round++) {
    const made = await Promise.all([
      harness.scheduler.fireEvent('door-open', null, { key: `k${round}` }),
      other.fireEvent('door-open', null, { key: `k${round}` }),
      other.fireEvent('door-open', null, { key: `k${round}` }),
    ]);
    expect(made.sort()).toEqual([0, 0, 1]);
  }
});

test('a debounced trigger makes one run of a burst, due after the last firing, with its payload', async () => {
  const { scheduler, clock } = createHarness();
  const seen: unknown[] = [];
  scheduler.register('reload', (_args, ctx) => void seen.push(ctx.event?.payload));
  const task = await scheduler.addTask({
    name: 'reload',
    triggers: [new EventTrigger({ event: 'config-changed', debounce: 1000 })],
  });
  expect(task.triggers[0]).toMatchObject({ kind: 'event', event: 'config-changed', debounce: 1000 });
  await scheduler.start();
  const [first] = await scheduler.fireEventRuns('config-changed', { v: 1 });
  for (let v = 2; v <= 4; v++) {
    await clock.advance(400);
    expect(await scheduler.fireEventRuns('config-changed', { v })).toEqual([first]);
  }
  await clock.advance(999);
  expect(seen).toEqual([]);
  const ran = nextEvent(scheduler, 'execution:succeeded');
  await clock.advance(1);
  expect((await ran).runId).toBe(first);
  expect(seen).toEqual([{ v: 4 }]);
  expect(await scheduler.executions({ taskId: task.id })).toHaveLength(1);

  // The next burst is a run of its own.
  const [second] = await scheduler.fireEventRuns('config-changed', { v: 5 });
  expect(second).not.toBe(first);
  const again = nextEvent(scheduler, 'execution:succeeded');
  await clock.advance(1000);
  await again;
  expect(seen).toEqual([{ v: 4 }, { v: 5 }]);
});

test('a firing while the debounced run runs makes a new run after it', async () => {
  const { scheduler, clock } = createHarness();
  let release!: () => void;
  const payloads: unknown[] = [];
  scheduler.register('sync', async (_args, ctx) => {
    payloads.push(ctx.event?.payload);
    if (payloads.length === 1) await new Promise<void>((resolve) => (release = resolve));
  });
  await scheduler.addTask({ name: 'sync', triggers: [new EventTrigger({ event: 'changed', debounce: 100 })] });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.fireEvent('changed', 1);
  await clock.advance(100);
  await started;
  const [next] = await scheduler.fireEventRuns('changed', 2);
  await scheduler.fireEventRuns('changed', 3);
  const done = nextEvent(scheduler, 'execution:succeeded', (e) => e.runId === next);
  release();
  await clock.advance(100);
  await done;
  expect(payloads).toEqual([1, 3]);
});

test('bad keys, windows and debounces are refused, naming the field', async () => {
  const { scheduler } = createHarness();
  const refused = async (call: () => unknown, field: string) => {
    const error = await Promise.resolve()
      .then(call)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  };
  await refused(() => scheduler.fireEvent('e', null, { key: '' }), 'key');
  await refused(() => scheduler.fireEvent('e', null, { key: 'x'.repeat(201) }), 'key');
  await refused(() => scheduler.fireEvent('e', null, 5 as never), 'options');
  await refused(() => createHarness({ eventKeyWindow: 0 }), 'eventKeyWindow');
  await refused(() => createHarness({ eventKeyWindow: 1.5 }), 'eventKeyWindow');
  for (const debounce of [0, -1, 1.5, 2 ** 31]) {
    await refused(() => new EventTrigger({ event: 'e', debounce }), 'trigger.debounce');
  }
});

test('two schedulers firing a debounced event at once keep one waiting run', async () => {
  const harness = createHarness();
  const other = harness.reopen();
  const task = await harness.scheduler.addTask({
    name: 'reload',
    triggers: [new EventTrigger({ event: 'config-changed', debounce: 60_000 })],
  });
  for (let round = 0; round < 10; round++) {
    await Promise.all([
      harness.scheduler.fireEvent('config-changed', { round, by: 'a' }),
      other.fireEvent('config-changed', { round, by: 'b' }),
      other.fireEvent('config-changed', { round, by: 'c' }),
    ]);
  }
  const explained = await harness.scheduler.explain(task.id);
  expect(explained.runs).toHaveLength(1);
});
