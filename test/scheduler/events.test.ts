import { expect, test } from 'vitest';
import { EventTrigger, type FiredEvent } from '../../src/index.js';
import { nextEvent, nextEvents, settle } from '../../src/testing.js';
import { createHarness, deferred } from '../helpers/setup.js';

test('an event gives each listening task exactly one run, with its payload, and is consumed once', async () => {
  const { scheduler, clock } = createHarness();
  const seen: [string, FiredEvent | null][] = [];
  for (const name of ['a', 'b']) {
    scheduler.register(name, (_args, ctx) => {
      seen.push([name, ctx.event]);
    });
    await scheduler.addTask({ name, triggers: [new EventTrigger({ event: 'disk-full' })] });
  }
  await scheduler.addTask({ name: 'deaf', triggers: [new EventTrigger({ event: 'other' })] });
  await scheduler.start();
  const two = nextEvents(scheduler, 'execution:succeeded', 2);
  expect(await scheduler.fireEvent('disk-full', { mount: '/var' })).toBe(2);
  await two;
  await clock.advance(60_000);
  expect(seen.sort()).toEqual([
    ['a', { name: 'disk-full', payload: { mount: '/var' } }],
    ['b', { name: 'disk-full', payload: { mount: '/var' } }],
  ]);
  const history = await scheduler.executions();
  expect(history.map((e) => e.event)).toEqual([
    { name: 'disk-full', payload: { mount: '/var' } },
    { name: 'disk-full', payload: { mount: '/var' } },
  ]);
});

test('events fired while every slot is busy wait and are delivered in the order fired', async () => {
  const { scheduler } = createHarness({ maxRunningTasks: 1 });
  const gate = deferred();
  scheduler.register('blocker', () => gate.promise);
  const payloads: unknown[] = [];
  scheduler.register('listener', (_args, ctx) => {
    payloads.push(ctx.event?.payload);
  });
  const blocker = await scheduler.addTask({ name: 'blocker' });
  await scheduler.addTask({ name: 'listener', triggers: [new EventTrigger({ event: 'e' })] });
  await scheduler.start();
  const blocked = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(blocker.id);
  await blocked;
  for (let i = 0; i < 20; i++) await scheduler.fireEvent('e', i);
  await settle();
  expect(payloads).toEqual([]);
  const all = nextEvents(scheduler, 'execution:succeeded', 21);
  gate.resolve();
  await all;
  expect(payloads).toEqual([...Array(20).keys()]);
});

test('an event fired before start is kept and delivered at start', async () => {
  const { scheduler, reopen } = createHarness();
  await scheduler.addTask({ name: 'l', triggers: [new EventTrigger({ event: 'boot' })] });
  await scheduler.fireEvent('boot', 'early');
  await scheduler.close();
  const again = reopen();
  let payload: unknown;
  again.register('l', (_args, ctx) => {
    payload = ctx.event?.payload;
  });
  const done = nextEvent(again, 'execution:succeeded');
  await again.start();
  await done;
  expect(payload).toBe('early');
});

test('an event with no listener makes no run', async () => {
  const { scheduler } = createHarness();
  expect(await scheduler.fireEvent('nobody-listens')).toBe(0);
});
