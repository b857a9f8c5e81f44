// Error classes (SPEC rule 18): PermanentError fails its run at once, whatever
// retries remain; RetryAfterError records the attempt `snoozed`, and the run goes
// again after the delay with the same attempt number, using no retry.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { OneTimeTrigger, PermanentError, RetryAfterError, ValidationError } from '../../src/index.js';
import { nextEvent } from '../../src/testing.js';
import { createHarness, tempDir } from '../helpers/setup.js';

const picky = fileURLToPath(new URL('../fixtures/modules/picky.mjs', import.meta.url));

test('a PermanentError fails the run at once, with retries left', async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register('provision', () => {
    throw new PermanentError('the device certificate is revoked');
  });
  const task = await scheduler.addTask({
    name: 'provision',
    retryPolicy: { maxRetries: 5, delay: 1000 },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const failed = nextEvent(scheduler, 'execution:failed');
  await scheduler.start();
  await clock.advance(0);
  const event = await failed;
  expect(event).toMatchObject({ status: 'failed', nextAttemptAt: null });
  expect(event.error).toBeInstanceOf(PermanentError);
  for (let i = 0; i < 10; i++) await clock.advance(1000);
  const history = await scheduler.executions({ taskId: task.id });
  expect(history).toMatchObject([{ status: 'failed', final: true, attempt: 1 }]);
  expect(history[0]!.error).toBe('PermanentError: the device certificate is revoked [PERMANENT_FAILURE]');
});

test('a RetryAfterError snoozes the run: same attempt, no retry used, and it goes again after the delay', async () => {
  const { scheduler, clock } = createHarness();
  let calls = 0;
  scheduler.register('upload', (_args, ctx) => {
    calls++;
    if (calls <= 3) throw new RetryAfterError(5000, 'upstream says 429');
    if (calls === 4) throw new Error('network reset');
    return { uploaded: true, attempt: ctx.attempt };
  });
  const task = await scheduler.addTask({
    name: 'upload',
    retryPolicy: { maxRetries: 1, delay: 100 },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const snoozed = nextEvent(scheduler, 'execution:snoozed');
  await scheduler.start();
  const startedAt = clock.now();
  await clock.advance(0);
  expect(await snoozed).toMatchObject({ status: 'snoozed', attempt: 1, nextAttemptAt: startedAt + 5000 });
  await clock.advance(4999);
  expect(calls).toBe(1);
  const succeeded = nextEvent(scheduler, 'execution:succeeded');
  for (let i = 0; i < 3; i++) await clock.advance(5000);
  await clock.advance(100);
  expect((await succeeded).result).toEqual({ uploaded: true, attempt: 2 });
  const history = (await scheduler.executions({ taskId: task.id })).reverse();
  expect(history.map((e) => [e.status, e.attempt, e.final])).toEqual([
    ['snoozed', 1, false],
    ['snoozed', 1, false],
    ['snoozed', 1, false],
    ['failed', 1, false],
    ['succeeded', 2, true],
  ]);
  expect(history[0]!.error).toBe('RetryAfterError: upstream says 429 [RETRY_AFTER]');
});

test('waitForRun resolves when the run ends, not when it is snoozed', async () => {
  const { scheduler, clock } = createHarness();
  let calls = 0;
  scheduler.register('poll', () => {
    if (++calls === 1) throw new RetryAfterError(1000);
    return 'done';
  });
  const task = await scheduler.addTask({ name: 'poll' });
  await scheduler.start();
  const runId = await scheduler.runNow(task.id);
  const outcome = scheduler.waitForRun(runId);
  const snoozed = nextEvent(scheduler, 'execution:snoozed');
  await clock.advance(0);
  expect((await snoozed).error?.message).toBe('retry after 1000 ms');
  await clock.advance(1000);
  expect(await outcome).toMatchObject({ status: 'succeeded', result: 'done', final: true });
});

test('a module task asks the same through the error classes it imports', async () => {
  const { scheduler, clock } = createHarness();
  const task = await scheduler.addTask({
    name: 'picky',
    module: picky,
    args: { marker: join(tempDir(), 'snoozed'), snoozeMs: 2000 },
    retryPolicy: { maxRetries: 3, delay: 10 },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const snoozed = nextEvent(scheduler, 'execution:snoozed');
  await scheduler.start();
  await clock.advance(0);
  expect(await snoozed).toMatchObject({ attempt: 1 });
  const failed = nextEvent(scheduler, 'execution:failed');
  await clock.advance(2000);
  await failed;
  const history = (await scheduler.executions({ taskId: task.id })).reverse();
  // The second attempt throws PermanentError: no retry, although three were left.
  expect(history.map((e) => [e.status, e.attempt, e.final])).toEqual([
    ['snoozed', 1, false],
    ['failed', 1, true],
  ]);
});

test('RetryAfterError refuses a delay that is not a whole number of ms a timer can wait', () => {
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 31]) {
    expect(() => new RetryAfterError(bad)).toThrow(ValidationError);
  }
  expect(new RetryAfterError(0).retryAfterMs).toBe(0);
  expect(new PermanentError('x').code).toBe('PERMANENT_FAILURE');
});
