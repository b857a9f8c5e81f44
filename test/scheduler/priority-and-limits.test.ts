import fc from 'fast-check';
import { expect, test } from 'vitest';
import { OneTimeTrigger, PeriodicTrigger } from '../../src/index.js';
import { nextEvents } from '../../src/testing.js';
import { createHarness, deferred } from '../helpers/setup.js';

test('under a limit of 2, higher priorities start first, then the order they became due', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 2 });
  const order: string[] = [];
  scheduler.register('job', (args) => {
    order.push(args as string);
  });
  // All due at the same wake; `c` and `d` share a priority, `d` became due first.
  await scheduler.addTask({
    name: 'a',
    handler: 'job',
    args: 'a',
    priority: 1,
    triggers: [new OneTimeTrigger({ delay: 100 })],
  });
  await scheduler.addTask({
    name: 'b',
    handler: 'job',
    args: 'b',
    priority: 10,
    triggers: [new OneTimeTrigger({ delay: 100 })],
  });
  await scheduler.addTask({
    name: 'c',
    handler: 'job',
    args: 'c',
    priority: 5,
    triggers: [new OneTimeTrigger({ delay: 100 })],
  });
  await scheduler.addTask({
    name: 'd',
    handler: 'job',
    args: 'd',
    priority: 5,
    triggers: [new OneTimeTrigger({ delay: 50 })],
  });
  await scheduler.addTask({
    name: 'e',
    handler: 'job',
    args: 'e',
    priority: -3,
    triggers: [new OneTimeTrigger({ delay: 100 })],
  });
  await clock.advance(100);
  const all = nextEvents(scheduler, 'execution:succeeded', 5);
  await scheduler.start();
  await all;
  expect(order).toEqual(['b', 'd', 'c', 'a', 'e']);
});

test('five blocking tasks under a limit of 2 never run more than 2 at once', async () => {
  const { scheduler } = createHarness({ maxRunningTasks: 2 });
  const gates = [...Array(5)].map(() => deferred());
  let running = 0;
  let maxRunning = 0;
  scheduler.register('block', async (i) => {
    running++;
    maxRunning = Math.max(maxRunning, running, scheduler.runningTasksCount());
    await gates[i as number]!.promise;
    running--;
  });
  for (let i = 0; i < 5; i++)
    await scheduler.addTask({ name: `t${i}`, handler: 'block', args: i, triggers: [new OneTimeTrigger({ delay: 0 })] });
  const done = nextEvents(scheduler, 'execution:succeeded', 5);
  const started = nextEvents(scheduler, 'execution:started', 2);
  await scheduler.start();
  await started;
  expect(scheduler.runningTasksCount()).toBe(2);
  for (const gate of gates) gate.resolve();
  await done;
  expect(maxRunning).toBe(2);
  expect(scheduler.runningTasksCount()).toBe(0);
});

test('start order always follows priority, then due time, then task id (property)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ priority: fc.integer({ min: -3, max: 3 }), delay: fc.integer({ min: 0, max: 3 }) }), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.integer({ min: 1, max: 3 }),
      async (specs, limit) => {
        const { scheduler, clock } = createHarness({ maxRunningTasks: limit });
        const started: number[] = [];
        scheduler.register('job', (i) => {
          started.push(i as number);
        });
        const ids: number[] = [];
        for (const [i, spec] of specs.entries()) {
          const task = await scheduler.addTask({
            name: `t${i}`,
            handler: 'job',
            args: i,
            priority: spec.priority,
            triggers: [new OneTimeTrigger({ delay: spec.delay })],
          });
          ids.push(task.id);
        }
        // Every run is due before the scheduler starts, so the order is decided by the rules alone.
        await clock.advance(10);
        const all = nextEvents(scheduler, 'execution:finished', specs.length);
        await scheduler.start();
        await all;
        const expected = specs
          .map((spec, i) => ({ ...spec, i }))
          .sort((a, b) => b.priority - a.priority || a.delay - b.delay || ids[a.i]! - ids[b.i]!)
          .map((s) => s.i);
        expect(started).toEqual(expected);
        await scheduler.close();
      },
    ),
    { numRuns: 25 },
  );
});

test('a task never runs alongside itself, even when runs of several kinds are ready', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 8 });
  let running = 0;
  let overlap = false;
  scheduler.register('solo', async () => {
    running++;
    if (running > 1) overlap = true;
    await new Promise((resolve) => setImmediate(resolve));
    running--;
  });
  const task = await scheduler.addTask({ name: 'solo', triggers: [new PeriodicTrigger({ interval: 10 })] });
  await scheduler.start();
  const ten = nextEvents(scheduler, 'execution:finished', 10);
  for (let i = 0; i < 5; i++) await scheduler.runNow(task.id);
  for (let i = 0; i < 10; i++) await clock.advance(10);
  await ten;
  expect(overlap).toBe(false);
});
