import { expect, test } from 'vitest';
import { OneTimeTrigger, TaskTimeoutError } from '../../src/index.js';
import { nextEvent, settle } from '../../src/testing.js';
import { createHarness } from '../helpers/setup.js';

test('a task failing twice with maxRetries 2 is called three times and leaves three records', async () => {
  const { scheduler, clock } = createHarness();
  const calledAt: number[] = [];
  scheduler.register('flaky', (_args, ctx) => {
    calledAt.push(clock.now());
    if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`);
    return 'third time lucky';
  });
  const task = await scheduler.addTask({ name: 'flaky', retryPolicy: { maxRetries: 2, delay: 1000 } });
  await scheduler.start();
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.runNow(task.id);
  await clock.advance(999);
  expect(calledAt).toHaveLength(1);
  await clock.advance(1);
  expect(calledAt).toHaveLength(2);
  await clock.advance(1000);
  await done;
  const t0 = calledAt[0]!;
  expect(calledAt).toEqual([t0, t0 + 1000, t0 + 2000]);
  const history = (await scheduler.executions({ taskId: task.id })).reverse();
  expect(history.map((e) => [e.attempt, e.status, e.error])).toEqual([
    [1, 'failed', 'attempt 1 failed'],
    [2, 'failed', 'attempt 2 failed'],
    [3, 'succeeded', null],
  ]);
  expect(history[2]!.result).toBe('third time lucky');
});

test('the last failure is final at once: no wait after the last attempt', async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register('doomed', () => {
    throw new Error('always');
  });
  const task = await scheduler.addTask({
    name: 'doomed',
    retryPolicy: { maxRetries: 2, delay: 100, backoff: 'exponential' },
  });
  await scheduler.start();
  const failed = nextEvent(scheduler, 'execution:failed');
  const retrying = nextEvent(scheduler, 'execution:retrying');
  await scheduler.runNow(task.id);
  expect((await retrying).nextAttemptAt).toBe(clock.now() + 100);
  await clock.advance(100);
  await clock.advance(200); // exponential: 100 then 200
  const final = await failed;
  expect(final.attempt).toBe(3);
  expect(final.nextAttemptAt).toBeNull();
  expect(clock.pendingTimers).toBeGreaterThan(0); // only the loop's own timers remain
  expect((await scheduler.executions({ taskId: task.id, status: 'failed' })).length).toBe(3);
});

test('without a retry policy there are no retries; throwing non-Errors and throwing synchronously are failures', async () => {
  const { scheduler } = createHarness();
  scheduler.register('string', () => {
    throw 'a plain string';
  });
  scheduler.register('object', () => Promise.reject({ reason: 42 }));
  const a = await scheduler.addTask({ name: 'string' });
  const b = await scheduler.addTask({ name: 'object' });
  await scheduler.start();
  const first = nextEvent(scheduler, 'execution:failed');
  await scheduler.runNow(a.id);
  await first;
  const second = nextEvent(scheduler, 'execution:failed');
  await scheduler.runNow(b.id);
  await second;
  await settle();
  const history = await scheduler.executions();
  expect(history.map((e) => [e.taskId, e.attempt, e.error])).toEqual([
    [b.id, 1, '{"reason":42}'],
    [a.id, 1, 'a plain string'],
  ]);
});

test('a timeout aborts the signal and fails the attempt, even when the handler ignores it; the slot is freed', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 1 });
  let signal: AbortSignal | undefined;
  scheduler.register('hang', (_args, ctx) => {
    signal = ctx.signal;
    return new Promise(() => {}); // never settles, ignores its signal
  });
  let otherRan = false;
  scheduler.register('other', () => {
    otherRan = true;
  });
  const hang = await scheduler.addTask({ name: 'hang', timeout: 5000, retryPolicy: { maxRetries: 1, delay: 60_000 } });
  const other = await scheduler.addTask({ name: 'other', priority: -1 });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(hang.id);
  await started;
  await scheduler.runNow(other.id);
  const retrying = nextEvent(scheduler, 'execution:retrying');
  await clock.advance(5000);
  const failure = await retrying;
  expect(signal?.aborted).toBe(true);
  expect(signal?.reason).toBeInstanceOf(TaskTimeoutError);
  expect(failure.error).toBeInstanceOf(TaskTimeoutError);
  const [record] = await scheduler.executions({ taskId: hang.id });
  expect(record).toMatchObject({ status: 'failed', attempt: 1 });
  expect(record!.error).toContain('TASK_TIMEOUT');
  await settle();
  expect(otherRan).toBe(true);
});

test('retries wait durably across a restart', async () => {
  const { scheduler, clock, reopen } = createHarness();
  scheduler.register('r', () => {
    throw new Error('first fails');
  });
  const task = await scheduler.addTask({
    name: 'r',
    triggers: [new OneTimeTrigger({ delay: 0 })],
    retryPolicy: { maxRetries: 1, delay: 60_000 },
  });
  const retrying = nextEvent(scheduler, 'execution:retrying');
  await scheduler.start();
  await retrying;
  await scheduler.close();
  await clock.advance(30_000);
  const again = reopen();
  const attempts: number[] = [];
  again.register('r', (_a, ctx) => void attempts.push(ctx.attempt));
  await again.start();
  await clock.advance(29_999);
  expect(attempts).toEqual([]);
  const done = nextEvent(again, 'execution:succeeded');
  await clock.advance(1);
  await done;
  expect(attempts).toEqual([2]);
  expect(await again.getTask(task.id)).toBeUndefined();
});
