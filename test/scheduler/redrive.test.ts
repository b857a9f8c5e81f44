// Redrive (SPEC rule 19): a failed attempt's task gets a new run with the same
// reason, event and payload, from attempt 1; retryFailed does it for every run that
// failed for good and was not redriven yet. A one-time task whose run failed for
// good stays, so that it can be redriven.
import { expect, test } from 'vitest';
import {
  EventTrigger,
  ExecutionNotFoundError,
  OneTimeTrigger,
  TaskNotFoundError,
  ValidationError,
} from '../../src/index.js';
import { nextEvent, nextEvents } from '../../src/testing.js';
import { createHarness } from '../helpers/setup.js';

test('a one-time task that failed for good stays, and retryExecution runs it again from attempt 1', async () => {
  const { scheduler, clock } = createHarness();
  let broken = true;
  scheduler.register('upload', (args, ctx) => {
    if (broken) throw new Error('server refused the certificate');
    return { uploaded: args, attempt: ctx.attempt, reason: ctx.event };
  });
  const task = await scheduler.addTask({
    name: 'upload',
    args: 'metrics.json',
    retryPolicy: { maxRetries: 1, delay: 100 },
    triggers: [new OneTimeTrigger({ delay: 0 })],
  });
  const failed = nextEvent(scheduler, 'execution:failed');
  await scheduler.start();
  await clock.advance(0);
  await clock.advance(100);
  const last = await failed;
  expect(last.attempt).toBe(2);
  // Kept: a dead letter with its args, not removed as a spent one-time task would be.
  expect(await scheduler.getTask(task.id)).toMatchObject({ args: 'metrics.json' });

  broken = false;
  const runId = await scheduler.retryExecution(last.executionId);
  expect(runId).not.toBe(last.runId);
  const done = await scheduler.waitForRun(runId);
  expect(done).toMatchObject({ status: 'succeeded', attempt: 1, reason: 'once', runId, final: true });
  const history = (await scheduler.executions({ taskId: task.id })).reverse();
  expect(history.map((e) => [e.status, e.attempt, e.final, e.redrivenRunId])).toEqual([
    ['failed', 1, false, null],
    ['failed', 2, true, runId],
    ['succeeded', 1, true, null],
  ]);
  // Its work done at last, the spent one-time task goes.
  expect(await scheduler.getTask(task.id)).toBeUndefined();
});

test("a redriven event run carries the failed run's event and payload", async () => {
  const { scheduler, clock } = createHarness();
  const seen: unknown[] = [];
  scheduler.register('apply', (_args, ctx) => {
    seen.push(ctx.event);
    if (seen.length === 1) throw new Error('config server down');
  });
  await scheduler.addTask({ name: 'apply', triggers: [new EventTrigger({ event: 'config' })] });
  const failed = nextEvent(scheduler, 'execution:failed');
  await scheduler.start();
  await scheduler.fireEvent('config', { version: 7 });
  await clock.advance(0);
  const runId = await scheduler.retryExecution((await failed).executionId);
  expect(await scheduler.waitForRun(runId)).toMatchObject({
    status: 'succeeded',
    reason: 'event',
    event: { name: 'config', payload: { version: 7 } },
  });
  expect(seen).toEqual([
    { name: 'config', payload: { version: 7 } },
    { name: 'config', payload: { version: 7 } },
  ]);
});

test('retryFailed redrives each run that failed for good once, by task and since', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 8 });
  let failing = true;
  scheduler.register('job', () => {
    if (failing) throw new Error('no');
  });
  const tasks = [];
  for (const name of ['a', 'b', 'c']) tasks.push(await scheduler.addTask({ name, handler: 'job' }));
  await scheduler.start();
  const first = nextEvents(scheduler, 'execution:failed', 3);
  for (const task of tasks) await scheduler.runNow(task.id);
  await clock.advance(0);
  await first;
  await clock.advance(60_000);
  const second = nextEvents(scheduler, 'execution:failed', 1);
  await scheduler.runNow(tasks[0]!.id);
  await clock.advance(0);
  await second;

  // Stopped, so that the runs it makes do not run (and fail anew) while it counts.
  await scheduler.stop();
  expect(await scheduler.retryFailed({ since: clock.now() })).toBe(1); // only the late failure
  expect(await scheduler.retryFailed({ taskId: tasks[1]!.id })).toBe(1);
  expect(await scheduler.retryFailed()).toBe(2);
  expect(await scheduler.retryFailed()).toBe(0); // each only once
  // Once they run and fail too, they are new final failures, not redriven yet.
  const rest = nextEvents(scheduler, 'execution:failed', 4);
  await scheduler.start();
  await clock.advance(0);
  await rest;
  await scheduler.stop();
  expect(await scheduler.retryFailed()).toBe(4);
  failing = false;
  const ok = nextEvents(scheduler, 'execution:succeeded', 4);
  await scheduler.start();
  await clock.advance(0);
  await ok;
  expect(await scheduler.retryFailed()).toBe(0);
});

test('a failure that was retried, and one whose task is gone, are not redriven', async () => {
  const { scheduler, clock } = createHarness();
  let calls = 0;
  scheduler.register('flaky', () => {
    if (++calls === 1) throw new Error('once');
  });
  scheduler.register('gone', () => {
    throw new Error('always');
  });
  const flaky = await scheduler.addTask({ name: 'flaky', retryPolicy: { maxRetries: 1, delay: 10 } });
  const gone = await scheduler.addTask({ name: 'gone' });
  await scheduler.start();
  const succeeded = nextEvent(scheduler, 'execution:succeeded');
  const failed = nextEvent(scheduler, 'execution:failed');
  await scheduler.runNow(flaky.id);
  await scheduler.runNow(gone.id);
  await clock.advance(0);
  await clock.advance(10);
  await succeeded;
  const lost = await failed;
  await scheduler.removeTask(gone.id);
  expect(await scheduler.retryFailed()).toBe(0);
  const error = await scheduler.retryExecution(lost.executionId).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TaskNotFoundError);
  const retried = (await scheduler.executions({ taskId: flaky.id, status: 'failed' }))[0]!;
  expect(retried.final).toBe(false);
  // An explicit retry of a retried failure is allowed: it is a failed attempt.
  expect(await scheduler.retryExecution(retried.id)).toBeGreaterThan(0);
});

test('retryExecution refuses what is not a failed attempt, naming why', async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register('ok', () => 'fine');
  const task = await scheduler.addTask({ name: 'ok' });
  await scheduler.start();
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.runNow(task.id);
  await clock.advance(0);
  const succeeded = await done;
  const notFailed = await scheduler.retryExecution(succeeded.executionId).catch((e: unknown) => e);
  expect(notFailed).toBeInstanceOf(ValidationError);
  expect((notFailed as ValidationError).field).toBe('executionId');
  expect((notFailed as ValidationError).reason).toContain('is succeeded');
  const missing = await scheduler.retryExecution(999_999).catch((e: unknown) => e);
  expect(missing).toBeInstanceOf(ExecutionNotFoundError);
  expect((missing as ExecutionNotFoundError).code).toBe('EXECUTION_NOT_FOUND');
  for (const [call, field] of [
    [() => scheduler.retryExecution(0), 'executionId'],
    [() => scheduler.retryExecution('7' as never), 'executionId'],
    [() => scheduler.retryFailed({ since: -1 }), 'since'],
    [() => scheduler.retryFailed({ taskId: 1.5 }), 'taskId'],
    [() => scheduler.retryFailed(5 as never), 'options'],
  ] as const) {
    const error = await Promise.resolve()
      .then(call)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
  }
});
