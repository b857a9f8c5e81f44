import { expect, test } from 'vitest';
import { OneTimeTrigger, PeriodicTrigger } from '../../src/index.js';
import { nextEvent, nextEvents, settle } from '../../src/testing.js';
import { createHarness } from '../helpers/setup.js';

const HOUR = 3600_000;

test('a wall clock set back an hour does not stall an interval trigger for an hour', async () => {
  const { scheduler, clock } = createHarness();
  const ranAt: number[] = [];
  scheduler.register('tick', () => void ranAt.push(clock.monotonic()));
  await scheduler.addTask({ name: 'tick', triggers: [new PeriodicTrigger({ interval: 60_000 })] });
  await scheduler.start();
  await clock.advance(30_000);
  const jumpedAt = clock.monotonic();
  clock.set(clock.now() - HOUR);
  const ran = nextEvent(scheduler, 'execution:succeeded');
  for (let i = 0; i < 8 && ranAt.length === 0; i++) await clock.advance(10_000);
  await ran;
  expect(ranAt[0]! - jumpedAt).toBeLessThanOrEqual(70_000);
});

test('a wall clock set back does not delay a waiting retry or a one-time delay by the jump', async () => {
  const { scheduler, clock } = createHarness();
  let attempts = 0;
  scheduler.register('retry', () => {
    if (++attempts === 1) throw new Error('first fails');
  });
  let onceRan = false;
  scheduler.register('once', () => void (onceRan = true));
  const task = await scheduler.addTask({ name: 'retry', retryPolicy: { maxRetries: 1, delay: 60_000 } });
  await scheduler.addTask({ name: 'once', triggers: [new OneTimeTrigger({ delay: 90_000 })] });
  await scheduler.start();
  const retrying = nextEvent(scheduler, 'execution:retrying');
  await scheduler.runNow(task.id);
  await retrying;
  clock.set(clock.now() - 5 * HOUR);
  const both = nextEvents(scheduler, 'execution:succeeded', 2);
  for (let i = 0; i < 10; i++) await clock.advance(10_000);
  await both;
  expect(attempts).toBe(2);
  expect(onceRan).toBe(true);
});

test('a wall clock set forward runs each periodic task once, not a burst', async () => {
  const { scheduler, clock } = createHarness();
  let runs = 0;
  scheduler.register('tick', () => void runs++);
  const task = await scheduler.addTask({ name: 'tick', triggers: [new PeriodicTrigger({ interval: 60_000 })] });
  await scheduler.start();
  clock.set(clock.now() + 10 * HOUR);
  await clock.advance(10_000);
  await settle();
  expect(runs).toBe(1);
  // 600 slots passed: one ran, the other 599 are counted as missed.
  expect((await scheduler.getTask(task.id))!.triggers[0]!.missedCount).toBe(599);
});

test('a clock set back while no scheduler ran is noticed at start', async () => {
  const { scheduler, clock, reopen } = createHarness();
  await scheduler.addTask({ name: 'hourly', triggers: [new PeriodicTrigger({ interval: HOUR })] });
  await scheduler.close();
  clock.set(clock.now() - 24 * HOUR); // the node rebooted with its clock a day behind
  const again = reopen();
  let ranAfter: number | undefined;
  const start = clock.monotonic();
  again.register('hourly', () => void (ranAfter = clock.monotonic() - start));
  await again.start();
  const ran = nextEvent(again, 'execution:succeeded');
  for (let i = 0; i < 370 && ranAfter === undefined; i++) await clock.advance(10_000);
  await ran;
  expect(ranAfter).toBeLessThanOrEqual(HOUR);
});
