import { expect, test } from 'vitest';
import { OneTimeTrigger, PeriodicTrigger } from '../../src/index.js';
import { LEASE_MS, MAX_SLEEP_MS } from '../../src/runtime/loop.js';
import { nextEvent, nextEvents, settle } from '../../src/testing.js';
import { createHarness } from '../helpers/setup.js';

test('the loop sleeps until the earliest due time, not on a fixed poll, capped at MAX_SLEEP_MS', async () => {
  const { scheduler, clock } = createHarness();
  await scheduler.start();
  await settle();
  // Idle: only the capped sleep and the lease heartbeat are waiting.
  expect(clock.nextTimerIn).toBe(Math.min(MAX_SLEEP_MS, LEASE_MS / 3));
  scheduler.register('soon', () => {});
  await scheduler.addTask({ name: 'soon', triggers: [new OneTimeTrigger({ delay: 1234 })] });
  await settle();
  expect(clock.nextTimerIn).toBe(1234);
});

test('runNow, fireEvent, resumeTask, register and a freed slot wake the loop without the clock moving', async () => {
  const { scheduler } = createHarness({ maxRunningTasks: 1 });
  const task = await scheduler.addTask({ name: 'w' });
  await scheduler.start();
  await settle();
  // register wakes it: the queued run starts without any timer firing.
  await scheduler.runNow(task.id);
  const first = nextEvent(scheduler, 'execution:succeeded');
  scheduler.register('w', () => 'ok');
  await first;
  // A freed slot wakes it: two queued runs of one task run back to back.
  const two = nextEvents(scheduler, 'execution:succeeded', 2);
  await scheduler.runNow(task.id);
  await scheduler.runNow(task.id);
  await two;
  await scheduler.pauseTask(task.id);
  await scheduler.runNow(task.id);
  const resumed = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.resumeTask(task.id);
  await resumed;
});

test('jitter delays each periodic fire by at most its bound, around fixed slots', async () => {
  const { scheduler, clock } = createHarness();
  const offsets: number[] = [];
  const t0 = clock.now();
  scheduler.register('j', () => void offsets.push((clock.now() - t0) % 1000));
  await scheduler.addTask({ name: 'j', triggers: [new PeriodicTrigger({ interval: 1000, jitter: 300 })] });
  await scheduler.start();
  const twenty = nextEvents(scheduler, 'execution:succeeded', 20);
  for (let i = 0; i < 210; i++) await clock.advance(100); // 21 s: the 20th slot plus its jitter
  await twenty;
  expect(offsets).toHaveLength(20);
  expect(offsets.every((offset) => offset >= 0 && offset <= 300)).toBe(true);
  expect(new Set(offsets).size).toBeGreaterThan(1);
});
