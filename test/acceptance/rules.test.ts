// The rules of SPEC, checked through the built package's public API only.
import { describe, expect, test } from 'vitest';
import { BackgroundTasksError, EventTrigger, OneTimeTrigger, PeriodicTrigger, ValidationError } from 'background-tasks';
import { fresh, open, until } from './helpers.js';

describe('SPEC at a glance', () => {
  test('the example runs as written', async () => {
    const { scheduler } = fresh();
    scheduler.register('cleanup', async () => ({ removed: 3 }));
    const task = await scheduler.addTask({
      key: 'nightly-cleanup',
      name: 'cleanup',
      handler: 'cleanup',
      args: { dir: '/tmp' },
      priority: 10,
      timeout: 30_000,
      triggers: [
        new PeriodicTrigger({ cron: '0 3 * * *', timezone: 'Europe/Berlin' }),
        new EventTrigger({ event: 'disk-full' }),
      ],
      retryPolicy: { maxRetries: 3, delay: 1_000, backoff: 'exponential' },
    });
    expect(typeof task.id).toBe('number');
    await scheduler.start();
    await scheduler.fireEvent('disk-full', { mount: '/var' });
    await until(
      async () => (await scheduler.executions({ taskId: task.id, status: 'succeeded' })).length === 1,
      'the event run',
    );
    expect((await scheduler.getTask(task.id))?.name).toBe('cleanup');
    expect((await scheduler.listTasks()).map((t) => t.id)).toEqual([task.id]);
    const [execution] = await scheduler.executions({ taskId: task.id, limit: 20 });
    expect(execution).toMatchObject({
      taskId: task.id,
      attempt: 1,
      status: 'succeeded',
      result: { removed: 3 },
      event: { name: 'disk-full', payload: { mount: '/var' } },
    });
    expect(execution!.startedAt).toBeTypeOf('number');
    expect(execution!.endedAt).toBeTypeOf('number');
    expect(execution!.error).toBeNull();
    expect(scheduler.runningTasksCount()).toBe(0);
    await scheduler.removeTask(task.id);
    await scheduler.stop({ timeout: 5_000 });
    await scheduler.close();
  });
});

test('rule 1: higher priority first, then the order due, then task id', async () => {
  const { scheduler, clock } = fresh(1);
  const order: string[] = [];
  scheduler.register('job', (args) => void order.push(args as string));
  for (const [name, priority, delay] of [
    ['low', 0, 10],
    ['high', 9, 30],
    ['mid-late', 5, 20],
    ['mid-early', 5, 10],
  ] as const) {
    await scheduler.addTask({ name, handler: 'job', args: name, priority, triggers: [new OneTimeTrigger({ delay })] });
  }
  await clock.advance(60);
  await scheduler.start();
  await until(() => order.length === 4, 'four runs');
  expect(order).toEqual(['high', 'mid-early', 'mid-late', 'low']);
});

test('rule 2 and 3: never more than maxRunningTasks at once, and never a task beside itself', async () => {
  const { scheduler, clock } = fresh(2);
  let running = 0;
  let peak = 0;
  const active = new Set<number>();
  let overlap = false;
  const releases: (() => void)[] = [];
  scheduler.register('slow', async (_args, ctx) => {
    if (active.has(ctx.taskId)) overlap = true;
    active.add(ctx.taskId);
    peak = Math.max(peak, ++running);
    await new Promise<void>((resolve) => releases.push(resolve));
    running--;
    active.delete(ctx.taskId);
  });
  const ids: number[] = [];
  for (let i = 0; i < 4; i++) {
    ids.push(
      (await scheduler.addTask({ name: `t${i}`, handler: 'slow', triggers: [new PeriodicTrigger({ interval: 100 })] }))
        .id,
    );
  }
  await scheduler.start();
  for (let round = 0; round < 10; round++) {
    await scheduler.runNow(ids[round % 4]!);
    await clock.advance(100);
    releases.splice(0).forEach((release) => release());
  }
  expect(peak).toBe(2);
  expect(overlap).toBe(false);
});

test('rule 4: every event firing gives each listener exactly one run, in order, even when no slot is free', async () => {
  const { scheduler } = fresh(1);
  let release!: () => void;
  scheduler.register('block', () => new Promise<void>((resolve) => (release = resolve)));
  const got: unknown[] = [];
  scheduler.register('listen', (_args, ctx) => void got.push(ctx.event?.payload));
  const blocker = await scheduler.addTask({ name: 'block' });
  await scheduler.addTask({ name: 'listen', triggers: [new EventTrigger({ event: 'ping' })] });
  await scheduler.start();
  await scheduler.runNow(blocker.id);
  await until(() => scheduler.runningTasksCount() === 1, 'the blocker');
  for (let i = 0; i < 10; i++) await scheduler.fireEvent('ping', { n: i });
  release();
  await until(() => got.length === 10, 'ten deliveries');
  expect(got).toEqual([...Array(10).keys()].map((n) => ({ n })));
});

test('rule 5: an interval fires one interval after add, then every interval; cron at cron times', async () => {
  const { scheduler, clock } = fresh();
  const start = clock.now();
  const at: Record<string, number[]> = { every: [], cron: [] };
  scheduler.register('every', () => void at.every!.push(clock.now() - start));
  scheduler.register('cron', () => void at.cron!.push(clock.now() - start));
  await scheduler.addTask({ name: 'every', triggers: [new PeriodicTrigger({ interval: 250 })] });
  await scheduler.addTask({ name: 'cron', triggers: [new PeriodicTrigger({ cron: '*/1 * * * * *' })] });
  await scheduler.start();
  for (let i = 0; i < 8; i++) await clock.advance(250);
  await until(() => at.every!.length === 8 && at.cron!.length === 2, 'periodic runs');
  expect(at.every).toEqual([250, 500, 750, 1000, 1250, 1500, 1750, 2000]);
  expect(at.cron).toEqual([1000, 2000]);
});

test('rule 6: a one-time task runs once at its fixed time, across a restart, and is then removed', async () => {
  const { scheduler, clock, database } = fresh();
  const task = await scheduler.addTask({ name: 'once', triggers: [new OneTimeTrigger({ delay: 10_000 })] });
  await scheduler.close();
  await clock.advance(4_000);
  const again = open(database, clock);
  let runs = 0;
  again.register('once', () => void runs++);
  await again.start();
  await clock.advance(5_999);
  expect(runs).toBe(0);
  await clock.advance(1);
  await until(() => runs === 1, 'the one-time run');
  await clock.advance(60_000);
  await until(async () => (await again.getTask(task.id)) === undefined, 'removal');
  expect(runs).toBe(1);
  expect((await again.executions({ taskId: task.id })).map((e) => e.status)).toEqual(['succeeded']);
});

test('rule 7: retries follow the policy, each attempt its own row, no wait after the last', async () => {
  const { scheduler, clock } = fresh();
  const calls: number[] = [];
  scheduler.register('fail', () => {
    calls.push(clock.now());
    throw new Error('nope');
  });
  const task = await scheduler.addTask({ name: 'fail', retryPolicy: { maxRetries: 2, delay: 1_000 } });
  await scheduler.start();
  await scheduler.runNow(task.id);
  await until(() => calls.length === 1, 'attempt 1');
  await clock.advance(1_000);
  await until(() => calls.length === 2, 'attempt 2');
  await clock.advance(1_000);
  await until(
    async () => (await scheduler.executions({ taskId: task.id, status: 'failed' })).length === 3,
    'three rows',
  );
  const rows = (await scheduler.executions({ taskId: task.id })).reverse();
  expect(rows.map((r) => r.attempt)).toEqual([1, 2, 3]);
  expect(calls[1]! - calls[0]!).toBe(1_000);
  await clock.advance(100_000);
  expect(calls).toHaveLength(3);
});

test('rule 7: a handler ignoring its signal past its timeout fails and frees its slot', async () => {
  const { scheduler, clock } = fresh(1);
  scheduler.register('hang', () => new Promise(() => {}));
  let next = false;
  scheduler.register('next', () => void (next = true));
  const hang = await scheduler.addTask({ name: 'hang', timeout: 1_000 });
  const after = await scheduler.addTask({ name: 'next' });
  await scheduler.start();
  await scheduler.runNow(hang.id);
  await until(() => scheduler.runningTasksCount() === 1, 'the hang');
  await scheduler.runNow(after.id);
  await clock.advance(1_000);
  await until(() => next, 'the next task');
  expect((await scheduler.executions({ taskId: hang.id }))[0]).toMatchObject({ status: 'failed' });
});

test('rule 8: history records start, end, status, error, result and what fired it', async () => {
  const { scheduler } = fresh();
  scheduler.register('r', () => ({ ok: 1 }));
  const task = await scheduler.addTask({ name: 'r', triggers: [new EventTrigger({ event: 'go' })] });
  await scheduler.start();
  await scheduler.fireEvent('go', [1, 2]);
  await until(async () => (await scheduler.executions({ status: 'succeeded' })).length === 1, 'the run');
  const [row] = await scheduler.executions({ taskId: task.id, status: 'succeeded', limit: 1 });
  expect(row).toMatchObject({
    status: 'succeeded',
    error: null,
    result: { ok: 1 },
    event: { name: 'go', payload: [1, 2] },
  });
});

test('rule 9: stop aborts after the grace period, records interrupted, and start resumes the run', async () => {
  const { scheduler, clock } = fresh();
  let attempts = 0;
  scheduler.register('long', (_args, ctx) => {
    attempts++;
    if (attempts > 1) return 'second time';
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
  });
  const task = await scheduler.addTask({ name: 'long' });
  await scheduler.start();
  await scheduler.runNow(task.id);
  await until(() => scheduler.runningTasksCount() === 1, 'the run');
  const stopping = scheduler.stop({ timeout: 2_000 });
  await clock.advance(2_000);
  await stopping;
  await scheduler.stop();
  expect((await scheduler.executions({ taskId: task.id }))[0]).toMatchObject({ status: 'interrupted', attempt: 1 });
  await scheduler.start();
  await until(
    async () => (await scheduler.executions({ taskId: task.id, status: 'succeeded' })).length === 1,
    'the rerun',
  );
  expect((await scheduler.executions({ taskId: task.id }))[0]).toMatchObject({ attempt: 1, result: 'second time' });
});

test('rule 9: pauseTask holds one task, resumeTask releases it', async () => {
  const { scheduler } = fresh();
  let runs = 0;
  scheduler.register('p', () => void runs++);
  const task = await scheduler.addTask({ name: 'p' });
  await scheduler.pauseTask(task.id);
  await scheduler.start();
  await scheduler.runNow(task.id);
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
  expect(runs).toBe(0);
  await scheduler.resumeTask(task.id);
  await until(() => runs === 1, 'the resumed run');
});

test('rule 13: a run whose handler nobody registered waits and is never failed for it', async () => {
  const { scheduler, clock } = fresh();
  const task = await scheduler.addTask({ name: 'orphan', triggers: [new OneTimeTrigger({ delay: 0 })] });
  await scheduler.start();
  await clock.advance(60_000);
  expect(await scheduler.executions({ taskId: task.id })).toEqual([]);
  let ran = false;
  scheduler.register('orphan', () => void (ran = true));
  await until(() => ran, 'the orphan run');
});

test('rule 14: bad input is refused with a typed error naming the field, and nothing is written', async () => {
  const { scheduler } = fresh();
  const attempts: [() => unknown, string][] = [
    [() => new PeriodicTrigger({ cron: 'bad cron' }), 'trigger.cron'],
    [() => new PeriodicTrigger({ cron: '0 0 31 2 *' }), 'trigger.cron'],
    [() => new PeriodicTrigger({ interval: -1 }), 'trigger.interval'],
    [() => new OneTimeTrigger({ delay: -5 }), 'trigger.delay'],
    [() => scheduler.addTask({ name: 'x', priority: 0.5 }), 'priority'],
    [() => scheduler.addTask({ name: 'x', retryPolicy: { maxRetries: -1, delay: 0 } }), 'retryPolicy.maxRetries'],
    [() => scheduler.addTask({ name: 'x', args: { f: () => 0 } as never }), 'args.f'],
    [() => scheduler.addTask({ name: '' }), 'name'],
  ];
  for (const [attempt, field] of attempts) {
    let error: unknown;
    try {
      await attempt();
    } catch (err) {
      error = err;
    }
    expect(error, field).toBeInstanceOf(ValidationError);
    expect(error).toBeInstanceOf(BackgroundTasksError);
    expect(error).toMatchObject({ code: expect.any(String), field });
  }
  expect(await scheduler.listTasks()).toEqual([]);
});
