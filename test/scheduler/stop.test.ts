import { expect, test } from 'vitest';
import { MAX_INTERRUPTIONS_IN_A_ROW, OneTimeTrigger, SchedulerStoppingError } from '../../src/index.js';
import { nextEvent, settle } from '../../src/testing.js';
import { createHarness, deferred } from '../helpers/setup.js';

test('stop waits its grace period, then aborts; the attempt is interrupted and goes again at the next start with the same number', async () => {
  const { scheduler, clock, reopen } = createHarness();
  let signal: AbortSignal | undefined;
  scheduler.register('long', (_args, ctx) => {
    signal = ctx.signal;
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
  });
  const task = await scheduler.addTask({ name: 'long', triggers: [new OneTimeTrigger({ delay: 0 })] });
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.start();
  await started;
  let stopped = false;
  const stopping = scheduler.stop({ timeout: 3000 }).then(() => (stopped = true));
  await clock.advance(2999);
  expect(signal?.aborted).toBe(false);
  expect(stopped).toBe(false);
  await clock.advance(1);
  await stopping;
  expect(signal?.reason).toBeInstanceOf(SchedulerStoppingError);
  expect(scheduler.runningTasksCount()).toBe(0);
  const [interrupted] = await scheduler.executions({ taskId: task.id });
  expect(interrupted).toMatchObject({ status: 'interrupted', attempt: 1 });
  await scheduler.close();

  const again = reopen();
  const attempts: number[] = [];
  again.register('long', (_args, ctx) => void attempts.push(ctx.attempt));
  const done = nextEvent(again, 'execution:succeeded');
  await again.start();
  await done;
  expect(attempts).toEqual([1]);
  expect((await again.executions({ taskId: task.id })).map((e) => e.status)).toEqual(['succeeded', 'interrupted']);
});

test('a handler that finishes within the grace period succeeds normally', async () => {
  const { scheduler, clock } = createHarness();
  const gate = deferred<string>();
  scheduler.register('quick', () => gate.promise);
  const task = await scheduler.addTask({ name: 'quick' });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(task.id);
  await started;
  const stopping = scheduler.stop({ timeout: 10_000 });
  await clock.advance(500);
  gate.resolve('done');
  await stopping;
  expect((await scheduler.executions())[0]).toMatchObject({ status: 'succeeded', result: 'done' });
});

test('a handler that ignores its aborted signal is abandoned and recorded interrupted', async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register('stubborn', () => new Promise(() => {}));
  const task = await scheduler.addTask({ name: 'stubborn' });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(task.id);
  await started;
  const stopping = scheduler.stop({ timeout: 0 });
  await clock.advance(1000);
  await stopping;
  expect((await scheduler.executions())[0]).toMatchObject({ status: 'interrupted' });
});

test('stop is idempotent, start after stop resumes, and nothing starts while stopped', async () => {
  const { scheduler, clock } = createHarness();
  let calls = 0;
  scheduler.register('t', () => {
    calls++;
  });
  const task = await scheduler.addTask({ name: 't' });
  await scheduler.stop();
  await scheduler.start();
  await Promise.all([scheduler.stop(), scheduler.stop()]);
  await scheduler.stop();
  await scheduler.runNow(task.id);
  await clock.advance(60_000);
  expect(calls).toBe(0);
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.start();
  await done;
  expect(calls).toBe(1);
});

test(`the ${MAX_INTERRUPTIONS_IN_A_ROW}th interruption in a row fails the run`, async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register(
    'x',
    (_args, ctx) =>
      new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
  );
  const task = await scheduler.addTask({ name: 'x' });
  await scheduler.runNow(task.id);
  for (let i = 0; i < MAX_INTERRUPTIONS_IN_A_ROW; i++) {
    const started = nextEvent(scheduler, 'execution:started');
    await scheduler.start();
    await started;
    const stopping = scheduler.stop({ timeout: 0 });
    await clock.advance(0);
    await stopping;
  }
  await scheduler.start();
  await clock.advance(60_000);
  await settle();
  const history = (await scheduler.executions({ taskId: task.id })).reverse();
  expect(history.map((e) => e.status)).toEqual([
    ...Array(MAX_INTERRUPTIONS_IN_A_ROW - 1).fill('interrupted'),
    'failed',
  ]);
  expect(history.every((e) => e.attempt === 1)).toBe(true);
  expect(history.at(-1)!.error).toContain('interrupted 5 times in a row');
});
