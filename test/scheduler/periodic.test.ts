import { expect, test } from 'vitest';
import { PeriodicTrigger } from '../../src/index.js';
import { nextEvent, nextEvents } from '../../src/testing.js';
import { createHarness, deferred } from '../helpers/setup.js';

const T0 = Date.UTC(2026, 0, 1);

test('an interval task first runs one interval after it is added, then every interval, without drift', async () => {
  const { scheduler, clock } = createHarness();
  const startedAt: number[] = [];
  scheduler.register('tick', () => {
    startedAt.push(clock.now());
  });
  await scheduler.addTask({ name: 'tick', triggers: [new PeriodicTrigger({ interval: 1000 })] });
  await scheduler.start();
  const five = nextEvents(scheduler, 'execution:succeeded', 5);
  for (let i = 0; i < 5; i++) await clock.advance(1000);
  await five;
  expect(startedAt).toEqual([1, 2, 3, 4, 5].map((k) => T0 + k * 1000));
  const history = await scheduler.executions();
  expect(history.map((e) => e.scheduledAt).reverse()).toEqual(startedAt);
});

test('a cron task runs at its cron times and not between them', async () => {
  const { scheduler, clock } = createHarness();
  const startedAt: number[] = [];
  scheduler.register('nightly', () => {
    startedAt.push(clock.now());
  });
  await scheduler.addTask({ name: 'nightly', triggers: [new PeriodicTrigger({ cron: '0 3 * * *' })] });
  await scheduler.start();
  // Each simulated hour is hundreds of wakes and heartbeats: on PostgreSQL, round trips.
  for (let i = 0; i < 30; i++) await clock.advance(3600_000);
  expect(startedAt).toEqual([T0 + 3 * 3600_000, T0 + 27 * 3600_000]);
}, 120_000);

test('a periodic run that comes due while the previous one runs is coalesced, never run alongside', async () => {
  const { scheduler, clock } = createHarness();
  const gate = deferred();
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  scheduler.register('slow', async () => {
    calls++;
    running++;
    maxRunning = Math.max(maxRunning, running);
    if (calls === 1) await gate.promise;
    running--;
  });
  const task = await scheduler.addTask({ name: 'slow', triggers: [new PeriodicTrigger({ interval: 1000 })] });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await clock.advance(1000);
  await started;
  for (let i = 0; i < 5; i++) await clock.advance(1000);
  expect(calls).toBe(1);
  const first = nextEvent(scheduler, 'execution:succeeded');
  gate.resolve();
  await first;
  // Slots 2 to 6 came while the first run ran: each was coalesced into it, none queued behind it.
  const second = nextEvent(scheduler, 'execution:started');
  await clock.advance(1000);
  expect((await second).attempt).toBe(1);
  expect(clock.now()).toBe(T0 + 7000);
  expect(maxRunning).toBe(1);
  const trigger = (await scheduler.getTask(task.id))!.triggers[0]!;
  expect(trigger.coalescedCount).toBe(5);
  expect(trigger.fireCount).toBe(2);
});

test('slots missed while no scheduler ran follow the misfire policy', async () => {
  const { scheduler, clock, reopen } = createHarness();
  const once = await scheduler.addTask({ name: 'once', triggers: [new PeriodicTrigger({ interval: 60_000 })] });
  const skip = await scheduler.addTask({
    name: 'skip',
    triggers: [new PeriodicTrigger({ interval: 60_000, misfire: 'skip' })],
  });
  const all = await scheduler.addTask({
    name: 'all',
    triggers: [new PeriodicTrigger({ interval: 60_000, misfire: 'all', maxCatchUp: 3 })],
  });
  await scheduler.close();
  await clock.advance(10 * 60_000 + 30_000); // ten slots pass while nothing runs
  const again = reopen();
  const counts = new Map<string, number>();
  for (const name of ['once', 'skip', 'all'])
    again.register(name, () => void counts.set(name, (counts.get(name) ?? 0) + 1));
  const four = nextEvents(again, 'execution:succeeded', 4);
  await again.start();
  await four;
  expect(Object.fromEntries(counts)).toEqual({ once: 1, all: 3 });
  const missed = async (id: number) => (await again.getTask(id))!.triggers[0]!.missedCount;
  expect([await missed(once.id), await missed(skip.id), await missed(all.id)]).toEqual([9, 10, 7]);
});

test('a paused periodic task keeps one run waiting and runs it on resume', async () => {
  const { scheduler, clock } = createHarness();
  let calls = 0;
  scheduler.register('p', () => {
    calls++;
  });
  const task = await scheduler.addTask({ name: 'p', triggers: [new PeriodicTrigger({ interval: 1000 })] });
  await scheduler.pauseTask(task.id);
  await scheduler.start();
  for (let i = 0; i < 5; i++) await clock.advance(1000);
  expect(calls).toBe(0);
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.resumeTask(task.id);
  await done;
  expect(calls).toBe(1);
  expect((await scheduler.getTask(task.id))!.paused).toBe(false);
});
