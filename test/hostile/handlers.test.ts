import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger } from '../../src/index.js';
import { nextEvent, nextEvents, settle } from '../../src/testing.js';
import { createHarness, tempDbPath } from '../helpers/setup.js';

test('a handler may call addTask, fireEvent, runNow and removeTask (even of its own task) re-entrantly', async () => {
  const { scheduler } = createHarness();
  const seen: string[] = [];
  scheduler.register('parent', async (_args, ctx) => {
    const child = await scheduler.addTask({ name: 'child', triggers: [new EventTrigger({ event: 'go' })] });
    await scheduler.fireEvent('go', 'from the parent');
    await scheduler.runNow(child.id);
    await scheduler.removeTask(ctx.taskId);
    return 'parent done';
  });
  scheduler.register('child', (_args, ctx) => void seen.push(String(ctx.event?.payload ?? 'manual')));
  const parent = await scheduler.addTask({ name: 'parent', triggers: [new OneTimeTrigger({ delay: 0 })] });
  const all = nextEvents(scheduler, 'execution:finished', 3);
  await scheduler.start();
  const finished = await all;
  // Removing its own task while it runs cancels the parent's attempt.
  expect(finished.find((e) => e.taskId === parent.id)?.status).toBe('cancelled');
  expect(seen.sort()).toEqual(['from the parent', 'manual']);
  expect(await scheduler.getTask(parent.id)).toBeUndefined();
});

test('a handler may call stop without awaiting it; the scheduler stops once the handler returns', async () => {
  const { scheduler } = createHarness();
  scheduler.register('stopper', () => {
    void scheduler.stop();
    return 'asked to stop';
  });
  const task = await scheduler.addTask({ name: 'stopper' });
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.start();
  await scheduler.runNow(task.id);
  expect((await done).result).toBe('asked to stop');
  await settle();
  await scheduler.runNow(task.id);
  await settle();
  expect(scheduler.runningTasksCount()).toBe(0);
  expect(await scheduler.executions({ taskId: task.id })).toHaveLength(1);
});

test('a handler that awaits stop does not deadlock it: after the grace periods it is abandoned, interrupted', async () => {
  const { scheduler, clock } = createHarness();
  let stopped: Promise<void> | undefined;
  scheduler.register('waiter', async () => {
    stopped = scheduler.stop({ timeout: 1000 });
    await stopped;
  });
  const task = await scheduler.addTask({ name: 'waiter' });
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.start();
  await scheduler.runNow(task.id);
  await started;
  await clock.advance(1000); // the grace period
  await clock.advance(1000); // the abort grace: the handler is abandoned
  await stopped;
  expect((await scheduler.executions({ taskId: task.id }))[0]).toMatchObject({ status: 'interrupted' });
});

test('handlers returning values that are not JSON, throwing non-Errors or throwing synchronously never stall the loop', async () => {
  const { scheduler } = createHarness({ maxRunningTasks: 2 });
  const behaviours: Record<string, () => unknown> = {
    cyclic: () => {
      const o: Record<string, unknown> = {};
      o.self = o;
      return o;
    },
    fn: () => () => 1,
    symbol: () => Symbol('s'),
    undef: () => undefined,
    throwNull: () => {
      throw null;
    },
    throwNumber: () => {
      throw 42;
    },
    rejectUndefined: () => Promise.reject(undefined),
    syncThrow: () => {
      throw new TypeError('sync');
    },
  };
  for (const [name, fn] of Object.entries(behaviours)) scheduler.register(name, fn);
  const tasks = await scheduler.addTasks(Object.keys(behaviours).map((name) => ({ name })));
  await scheduler.start();
  const all = nextEvents(scheduler, 'execution:finished', tasks.length);
  for (const task of tasks) await scheduler.runNow(task.id);
  const finished = await all;
  const status = Object.fromEntries(finished.map((e) => [e.taskName, e.status]));
  expect(status).toEqual({
    cyclic: 'succeeded',
    fn: 'succeeded',
    symbol: 'succeeded',
    undef: 'succeeded',
    throwNull: 'failed',
    throwNumber: 'failed',
    rejectUndefined: 'failed',
    syncThrow: 'failed',
  });
  const rows = await scheduler.executions({ limit: 100 });
  expect(rows.filter((r) => r.status === 'succeeded').every((r) => r.result === null)).toBe(true);
  expect(rows.find((r) => r.taskName === 'throwNumber')?.error).toBe('42');
});

test('a stray unhandled rejection inside a handler is logged and does not crash the process', () => {
  const child = fileURLToPath(new URL('../fixtures/stray-child.mjs', import.meta.url));
  const result = spawnSync(process.execPath, [child, tempDbPath()], { encoding: 'utf8', timeout: 15_000 });
  expect(result.status).toBe(0);
  expect(JSON.parse(result.stdout.trim())).toEqual({ status: 'succeeded', logged: true });
});
