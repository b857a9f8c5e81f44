// What the seed got wrong, one test each, so that none of it comes back.
import { expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger, PeriodicTrigger } from '../src/index.js';
import { nextEvent, nextEvents, settle } from '../src/testing.js';
import { createHarness, deferred } from './helpers/setup.js';

test('kept everything in memory: tasks, schedules and pending work survive a restart', async () => {
  const { scheduler, clock, reopen } = createHarness();
  const task = await scheduler.addTask({
    name: 'p',
    triggers: [new PeriodicTrigger({ interval: 10_000 }), new EventTrigger({ event: 'e' })],
  });
  await scheduler.fireEvent('e', 'pending');
  await scheduler.close();
  const again = reopen();
  expect(await again.getTask(task.id)).toMatchObject({
    id: task.id,
    name: 'p',
    triggers: [{ kind: 'interval' }, { kind: 'event' }],
  });
  const reasons: string[] = [];
  again.register('p', (_args, ctx) => void reasons.push(ctx.event ? 'event' : 'interval'));
  const two = nextEvents(again, 'execution:succeeded', 2);
  await again.start();
  await clock.advance(10_000);
  await two;
  expect(reasons).toEqual(['event', 'interval']);
});

test('treated a cron-only trigger as ready on every tick', async () => {
  const { scheduler, clock } = createHarness();
  let runs = 0;
  scheduler.register('c', () => void runs++);
  await scheduler.addTask({ name: 'c', triggers: [new PeriodicTrigger({ cron: '0 * * * *' })] });
  await scheduler.start();
  for (let i = 0; i < 59; i++) await clock.advance(60_000);
  expect(runs).toBe(0);
  await clock.advance(60_000);
  await settle();
  expect(runs).toBe(1);
});

test('re-ran one-time tasks forever and never removed them', async () => {
  const { scheduler, clock } = createHarness();
  let runs = 0;
  scheduler.register('o', () => void runs++);
  const task = await scheduler.addTask({ name: 'o', triggers: [new OneTimeTrigger({ delay: 100 })] });
  await scheduler.start();
  for (let i = 0; i < 20; i++) await clock.advance(100);
  expect(runs).toBe(1);
  expect(await scheduler.getTask(task.id)).toBeUndefined();
});

test('lost events when the scheduler was full', async () => {
  const { scheduler } = createHarness({ maxRunningTasks: 1 });
  const gate = deferred();
  scheduler.register('busy', () => gate.promise);
  let delivered = 0;
  scheduler.register('l', () => void delivered++);
  const busy = await scheduler.addTask({ name: 'busy' });
  await scheduler.addTask({ name: 'l', triggers: [new EventTrigger({ event: 'e' })] });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(busy.id);
  await started;
  await Promise.all([...Array(100)].map(() => scheduler.fireEvent('e')));
  const all = nextEvents(scheduler, 'execution:succeeded', 101);
  gate.resolve();
  await all;
  expect(delivered).toBe(100);
});

test('slept after the last failed attempt', async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register('f', () => {
    throw new Error('x');
  });
  const task = await scheduler.addTask({ name: 'f', retryPolicy: { maxRetries: 1, delay: 60_000 } });
  await scheduler.start();
  const final = nextEvent(scheduler, 'execution:failed');
  await scheduler.runNow(task.id);
  await clock.advance(60_000);
  const event = await final;
  // The final failure is recorded the moment the last attempt fails, not a delay later.
  const [row] = await scheduler.executions({ taskId: task.id, limit: 1 });
  expect(event.attempt).toBe(2);
  expect(row!.endedAt).toBe(clock.now());
});

test('never cancelled running work on stop', async () => {
  const { scheduler, clock } = createHarness();
  let aborted = false;
  scheduler.register(
    'w',
    (_args, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve((aborted = true)))),
  );
  const task = await scheduler.addTask({ name: 'w' });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(task.id);
  await started;
  const stopping = scheduler.stop({ timeout: 100 });
  await clock.advance(100);
  await stopping;
  expect(aborted).toBe(true);
});

test('panicked on a second stop', async () => {
  const { scheduler } = createHarness();
  await scheduler.start();
  await scheduler.stop();
  await expect(scheduler.stop()).resolves.toBeUndefined();
  await expect(Promise.all([scheduler.stop(), scheduler.stop()])).resolves.toBeDefined();
});

test('raced on its maps: concurrent calls while running keep every invariant', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 3 });
  let running = 0;
  let peak = 0;
  // A removal abandons a running attempt and frees its slot at once, so the handler
  // stops counting when its signal is aborted, as one that heeds it would.
  scheduler.register('r', async (_args, ctx) => {
    peak = Math.max(peak, ++running);
    const aborted = new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    await Promise.race([settle(1), aborted]);
    running--;
  });
  await scheduler.start();
  const tasks = await Promise.all(
    [...Array(30).keys()].map((i) =>
      scheduler.addTask({ name: `t${i}`, handler: 'r', triggers: [new EventTrigger({ event: 'go' })] }),
    ),
  );
  await Promise.all([
    ...tasks.slice(0, 10).map((t) => scheduler.removeTask(t.id)),
    ...tasks.slice(10).map((t) => scheduler.runNow(t.id)),
    scheduler.fireEvent('go'),
    clock.advance(1000),
  ]);
  for (
    let i = 0;
    i < 50 && (scheduler.runningTasksCount() > 0 || (await scheduler.executions({ limit: 1000 })).length < 40);
    i++
  )
    await settle();
  const history = await scheduler.executions({ limit: 1000 });
  expect(peak).toBeLessThanOrEqual(3);
  expect(history.filter((e) => e.status === 'succeeded')).toHaveLength(40);
  // A removed task ran only if its event's run was claimed before the removal: then it was cancelled.
  expect(history.filter((e) => e.taskId <= tasks[9]!.id).every((e) => e.status === 'cancelled')).toBe(true);
  expect(new Set(history.map((e) => e.id)).size).toBe(history.length);
});
