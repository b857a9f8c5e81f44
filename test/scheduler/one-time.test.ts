import { expect, test } from 'vitest';
import { OneTimeTrigger } from '../../src/index.js';
import { nextEvent, settle } from '../../src/testing.js';
import { createHarness } from '../helpers/setup.js';

test('a one-time task runs once, at its due time, then is removed; its history stays', async () => {
  const { scheduler, clock } = createHarness();
  let calls = 0;
  scheduler.register('once', () => {
    calls++;
  });
  const task = await scheduler.addTask({ name: 'once', triggers: [new OneTimeTrigger({ delay: 5000 })] });
  await scheduler.start();
  await clock.advance(4999);
  expect(calls).toBe(0);
  const done = nextEvent(scheduler, 'execution:finished');
  await clock.advance(1);
  await done;
  await clock.advance(60_000);
  expect(calls).toBe(1);
  expect(await scheduler.getTask(task.id)).toBeUndefined();
  const history = await scheduler.executions({ taskId: task.id });
  expect(history).toHaveLength(1);
  expect(history[0]).toMatchObject({ status: 'succeeded', reason: 'once', scheduledAt: task.createdAt + 5000 });
});

test('a one-time task that fails for good after its retries stays, with no run left, to be redriven', async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register('flaky', () => {
    throw new Error('no');
  });
  const task = await scheduler.addTask({
    name: 'flaky',
    triggers: [new OneTimeTrigger({ delay: 0 })],
    retryPolicy: { maxRetries: 1, delay: 1000 },
  });
  await scheduler.start();
  const failed = nextEvent(scheduler, 'execution:failed');
  await clock.advance(1000);
  await failed;
  expect(await scheduler.getTask(task.id)).toMatchObject({
    id: task.id,
    triggers: [{ kind: 'once', nextFireAt: null }],
  });
  expect((await scheduler.explain(task.id)).runs).toEqual([]);
  expect((await scheduler.executions({ taskId: task.id })).map((e) => e.status)).toEqual(['failed', 'failed']);
});

test('a one-time `at` in the past runs at once', async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register('late', () => 'ran');
  await scheduler.addTask({ name: 'late', triggers: [new OneTimeTrigger({ at: new Date(clock.now() - 60_000) })] });
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.start();
  expect((await done).result).toBe('ran');
});

test('a task stopped before it is due never runs', async () => {
  const { scheduler, clock } = createHarness();
  let calls = 0;
  scheduler.register('never', () => {
    calls++;
  });
  await scheduler.addTask({ name: 'never', triggers: [new OneTimeTrigger({ delay: 1000 })] });
  await scheduler.start();
  await clock.advance(500);
  await scheduler.stop();
  await clock.advance(10_000);
  await settle();
  expect(calls).toBe(0);
  expect(await scheduler.executions()).toEqual([]);
});

test('a restart does not restart the delay', async () => {
  const { scheduler, clock, reopen } = createHarness();
  await scheduler.addTask({ name: 'x', triggers: [new OneTimeTrigger({ delay: 10_000 })] });
  await scheduler.close();
  await clock.advance(6000);
  const again = reopen();
  let ranAt = 0;
  again.register('x', () => {
    ranAt = clock.now();
  });
  await again.start();
  const done = nextEvent(again, 'execution:finished');
  await clock.advance(4000);
  await done;
  expect(ranAt).toBe(Date.UTC(2026, 0, 1) + 10_000);
});
