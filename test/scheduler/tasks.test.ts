import { expect, test } from 'vitest';
import {
  EventTrigger,
  OneTimeTrigger,
  PeriodicTrigger,
  TaskCancelledError,
  TaskNotFoundError,
  type TaskContext,
} from '../../src/index.js';
import { nextEvent, settle } from '../../src/testing.js';
import { capturingLogger, createHarness } from '../helpers/setup.js';

test('ids grow from add and are never reused after remove, even across a restart', async () => {
  const { scheduler, reopen } = createHarness();
  const a = await scheduler.addTask({ name: 'a' });
  const b = await scheduler.addTask({ name: 'b' });
  expect(b.id).toBeGreaterThan(a.id);
  expect(await scheduler.removeTask(b.id)).toBe(true);
  expect(await scheduler.removeTask(b.id)).toBe(false);
  await scheduler.close();
  const c = await reopen().addTask({ name: 'c' });
  expect(c.id).toBeGreaterThan(b.id);
});

test('concurrent addTask calls each get their own id', async () => {
  const { scheduler } = createHarness();
  const tasks = await Promise.all([...Array(50).keys()].map((i) => scheduler.addTask({ name: `t${i}` })));
  expect(new Set(tasks.map((t) => t.id)).size).toBe(50);
  expect((await scheduler.listTasks()).length).toBe(50);
});

test('addTask with a known key updates the task and keeps its trigger state, counters and history', async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register('job', () => 'ok');
  const first = await scheduler.addTask({
    key: 'nightly',
    name: 'job',
    args: { v: 1 },
    triggers: [new PeriodicTrigger({ interval: 1000 }), new EventTrigger({ event: 'go' })],
  });
  await scheduler.start();
  const ran = nextEvent(scheduler, 'execution:succeeded');
  await clock.advance(1000);
  await ran;
  const updated = nextEvent(scheduler, 'task:updated');
  const second = await scheduler.addTask({
    key: 'nightly',
    name: 'job',
    args: { v: 2 },
    priority: 7,
    triggers: [new PeriodicTrigger({ interval: 1000 }), new EventTrigger({ event: 'other' })],
  });
  await updated;
  expect(second.id).toBe(first.id);
  expect(second).toMatchObject({ args: { v: 2 }, priority: 7 });
  expect(second.triggers[0]).toMatchObject({ kind: 'interval', id: first.triggers[0]!.id, fireCount: 1 });
  expect(second.triggers[0]!.nextFireAt).toBe(first.triggers[0]!.nextFireAt! + 1000);
  expect(second.triggers[1]).toMatchObject({ kind: 'event', event: 'other' });
  expect(second.triggers).toHaveLength(2);
  expect(await scheduler.executions({ taskId: first.id })).toHaveLength(1);
  expect(await scheduler.listTasks()).toHaveLength(1);
});

test('pauseTask holds a task, resumeTask releases it; unknown ids are a typed error', async () => {
  const { scheduler } = createHarness();
  let calls = 0;
  scheduler.register('p', () => {
    calls++;
  });
  const task = await scheduler.addTask({ name: 'p', paused: true });
  expect(task.paused).toBe(true);
  await scheduler.start();
  await scheduler.runNow(task.id);
  await settle();
  expect(calls).toBe(0);
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.resumeTask(task.id);
  await done;
  expect(calls).toBe(1);
  await expect(scheduler.pauseTask(999)).rejects.toBeInstanceOf(TaskNotFoundError);
  await expect(scheduler.resumeTask(999)).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
  await expect(scheduler.runNow(999)).rejects.toMatchObject({ code: 'TASK_NOT_FOUND', taskId: 999 });
});

test('removing a running task aborts its signal and records the attempt cancelled; history stays', async () => {
  const { scheduler } = createHarness();
  let signal: AbortSignal | undefined;
  scheduler.register('r', (_args, ctx) => {
    signal = ctx.signal;
    return new Promise(() => {});
  });
  const task = await scheduler.addTask({ name: 'r', triggers: [new PeriodicTrigger({ interval: 1000 })] });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(task.id);
  await started;
  const cancelled = nextEvent(scheduler, 'execution:cancelled');
  await scheduler.removeTask(task.id);
  await cancelled;
  expect(signal?.reason).toBeInstanceOf(TaskCancelledError);
  expect(scheduler.runningTasksCount()).toBe(0);
  expect(await scheduler.getTask(task.id)).toBeUndefined();
  expect(await scheduler.executions({ taskId: task.id })).toMatchObject([
    { status: 'cancelled', error: 'task removed' },
  ]);
});

test('the handler gets its args and a full context', async () => {
  const { scheduler } = createHarness();
  let seen: [unknown, TaskContext] | undefined;
  scheduler.register('cleanup', (args, ctx) => {
    seen = [args, ctx];
  });
  const task = await scheduler.addTask({
    name: 'nightly cleanup',
    handler: 'cleanup',
    args: { dir: '/tmp' },
    triggers: [new EventTrigger({ event: 'disk-full' })],
  });
  await scheduler.start();
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.fireEvent('disk-full', { mount: '/var' });
  const event = await done;
  const [args, ctx] = seen!;
  expect(args).toEqual({ dir: '/tmp' });
  expect(ctx).toMatchObject({
    taskId: task.id,
    taskName: 'nightly cleanup',
    executionId: event.executionId,
    attempt: 1,
    event: { name: 'disk-full', payload: { mount: '/var' } },
  });
  expect(ctx.signal).toBeInstanceOf(AbortSignal);
  expect(typeof ctx.logger.info).toBe('function');
});

test('a run whose handler is not registered waits, is reported, and runs once the handler is registered', async () => {
  const { logger, lines } = capturingLogger();
  const { scheduler } = createHarness({ logger });
  const task = await scheduler.addTask({ name: 'later', triggers: [new OneTimeTrigger({ delay: 0 })] });
  await scheduler.start();
  await settle();
  expect(await scheduler.executions()).toEqual([]);
  expect(lines.some((l) => l.level === 40 && l.handler === 'later')).toBe(true);
  const done = nextEvent(scheduler, 'execution:succeeded');
  scheduler.register('later', () => 'finally');
  expect((await done).taskId).toBe(task.id);
});

test('listTasks pages by id', async () => {
  const { scheduler } = createHarness();
  for (let i = 0; i < 5; i++) await scheduler.addTask({ name: `t${i}` });
  const page1 = await scheduler.listTasks({ limit: 2 });
  const page2 = await scheduler.listTasks({ limit: 2, afterId: page1[1]!.id });
  expect([...page1, ...page2].map((t) => t.name)).toEqual(['t0', 't1', 't2', 't3']);
});

test('a result that is not JSON is stored as null; the attempt still succeeds', async () => {
  const { scheduler } = createHarness();
  scheduler.register('weird', () => ({ big: 10n }));
  const task = await scheduler.addTask({ name: 'weird' });
  await scheduler.start();
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.runNow(task.id);
  await done;
  expect((await scheduler.executions())[0]).toMatchObject({ status: 'succeeded', result: null });
});

test('executions filter by task and status, newest first, with a limit', async () => {
  const { scheduler } = createHarness();
  scheduler.register('ok', () => 1);
  scheduler.register('bad', () => {
    throw new Error('x');
  });
  const ok = await scheduler.addTask({ name: 'ok' });
  const bad = await scheduler.addTask({ name: 'bad' });
  await scheduler.start();
  for (let i = 0; i < 3; i++) {
    const a = nextEvent(scheduler, 'execution:finished', (e) => e.taskId === ok.id);
    await scheduler.runNow(ok.id);
    await a;
    const b = nextEvent(scheduler, 'execution:finished', (e) => e.taskId === bad.id);
    await scheduler.runNow(bad.id);
    await b;
  }
  expect(await scheduler.executions({ taskId: ok.id })).toHaveLength(3);
  expect((await scheduler.executions({ status: 'failed' })).every((e) => e.taskId === bad.id)).toBe(true);
  const latest = await scheduler.executions({ limit: 2 });
  expect(latest).toHaveLength(2);
  expect(latest[0]!.id).toBeGreaterThan(latest[1]!.id);
  const pages = [latest];
  while (pages.at(-1)!.length > 0)
    pages.push(await scheduler.executions({ limit: 2, beforeId: pages.at(-1)!.at(-1)!.id }));
  expect(pages.flat().map((e) => e.id)).toEqual((await scheduler.executions()).map((e) => e.id));
});

test('after close, calls fail with a typed error', async () => {
  const { scheduler } = createHarness();
  await scheduler.close();
  await scheduler.close();
  await expect(scheduler.addTask({ name: 'late' })).rejects.toMatchObject({ code: 'SCHEDULER_CLOSED' });
});
