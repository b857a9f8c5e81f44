import { expect, test } from 'vitest';
import { PeriodicTrigger, Scheduler } from '../src/index.js';
import { FakeClock, nextEvent } from '../src/testing.js';
import { createHarness, silentLogger, tempDbPath } from './helpers/setup.js';

test("the README's testing example works on an in-memory database", async () => {
  const clock = new FakeClock(new Date('2026-01-01T00:00:00Z'));
  const scheduler = new Scheduler({ database: ':memory:', clock, logger: silentLogger });
  scheduler.register('hourly', () => 'ran');
  await scheduler.addTask({ name: 'hourly', triggers: [new PeriodicTrigger({ interval: 60_000 })] });
  await scheduler.start();
  const done = nextEvent(scheduler, 'execution:succeeded');
  await clock.advance(60_000);
  expect((await done).result).toBe('ran');
  await scheduler.close();
});

test('FakeClock fires timers in due order and lets set() move the wall clock', async () => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b'), 20);
  clock.setTimeout(() => fired.push('a'), 10);
  const cancelled = clock.setTimeout(() => fired.push('never'), 15);
  clock.clearTimeout(cancelled);
  await clock.advance(25);
  expect(fired).toEqual(['a', 'b']);
  expect(clock.now()).toBe(25);
  clock.set(1000);
  expect(clock.now()).toBe(1000);
});

test('nextEvent with a timeout rejects, naming the event, instead of hanging', async () => {
  const { scheduler } = createHarness();
  await expect(nextEvent(scheduler, 'execution:succeeded', undefined, { timeout: 20 })).rejects.toThrow(
    /no "execution:succeeded" event within 20 ms/,
  );
});

test('close({ timeout }) under a FakeClock does not wait for a handler on its own real timers', async () => {
  const clock = new FakeClock(0);
  const database = tempDbPath();
  const scheduler = new Scheduler({ database, clock, logger: silentLogger });
  let handlerTimer: NodeJS.Timeout | undefined;
  let finished = false;
  // Ignores its signal and waits a minute of real time: the fake clock never moves.
  scheduler.register('slow', () =>
    new Promise((resolve) => (handlerTimer = setTimeout(resolve, 60_000))).then(() => (finished = true)),
  );
  const task = await scheduler.addTask({ name: 'slow' });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(task.id);
  await started;
  await scheduler.close({ timeout: 50 }); // nobody advances the clock: real time ends the wait
  clearTimeout(handlerTimer);
  expect(finished).toBe(false);
  const reopened = new Scheduler({ database, clock, logger: silentLogger });
  expect((await reopened.executions({ taskId: task.id }))[0]).toMatchObject({ status: 'interrupted' });
  await reopened.close();
});
