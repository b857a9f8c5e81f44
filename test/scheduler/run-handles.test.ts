import { expect, test } from 'vitest';
import { EventTrigger, RunNotFoundError, ValidationError, WaitTimeoutError } from '../../src/index.js';
import { nextEvent } from '../../src/testing.js';
import { createHarness, deferred } from '../helpers/setup.js';

// The run handle: runNow and fireEventRuns give run ids; waitForRun awaits a run's end.

test('waitForRun resolves with the attempt that ended the run, after its retries', async () => {
  const { scheduler, clock } = createHarness();
  scheduler.register('flaky', (_args, ctx) => {
    if (ctx.attempt < 2) throw new Error('not yet');
    return { attempt: ctx.attempt };
  });
  const task = await scheduler.addTask({ name: 'flaky', retryPolicy: { maxRetries: 1, delay: 1000 } });
  await scheduler.start();
  const retrying = nextEvent(scheduler, 'execution:retrying');
  const runId = await scheduler.runNow(task.id);
  let ended = false;
  const outcome = scheduler.waitForRun(runId).finally(() => (ended = true));
  await retrying; // the first attempt failed, but the run goes on
  expect(ended).toBe(false);
  await clock.advance(1000);
  expect(await outcome).toMatchObject({ runId, attempt: 2, status: 'succeeded', final: true, result: { attempt: 2 } });
  // Ended runs answer at once, and their attempts are listed by run.
  expect(await scheduler.waitForRun(runId)).toMatchObject({ status: 'succeeded' });
  expect((await scheduler.executions({ runId })).map((e) => [e.attempt, e.status])).toEqual([
    [2, 'succeeded'],
    [1, 'failed'],
  ]);
});

test('a run that fails for good resolves too: the caller reads its status', async () => {
  const { scheduler } = createHarness();
  scheduler.register('doomed', () => {
    throw new Error('always');
  });
  const task = await scheduler.addTask({ name: 'doomed' });
  await scheduler.start();
  const outcome = await scheduler.waitForRun(await scheduler.runNow(task.id));
  expect(outcome).toMatchObject({ status: 'failed', final: true, error: 'always' });
});

test('fireEventRuns gives the id of each run an event made; fireEvent still counts them', async () => {
  const { scheduler } = createHarness();
  for (const name of ['a', 'b']) {
    scheduler.register(name, (_args, ctx) => `${name} saw ${JSON.stringify(ctx.event?.payload)}`);
    await scheduler.addTask({ name, triggers: [new EventTrigger({ event: 'disk-full' })] });
  }
  await scheduler.start();
  const runIds = await scheduler.fireEventRuns('disk-full', { mount: '/var' });
  expect(runIds).toHaveLength(2);
  expect(runIds[0]!).toBeLessThan(runIds[1]!);
  const results = await Promise.all(runIds.map((id) => scheduler.waitForRun(id)));
  expect(results.map((e) => e.result).sort()).toEqual(['a saw {"mount":"/var"}', 'b saw {"mount":"/var"}']);
  expect(await scheduler.fireEventRuns('nobody-listens')).toEqual([]);
  expect(await scheduler.fireEvent('disk-full')).toBe(2);
});

test('a run ended by another scheduler on the database is seen by a waiter that runs nothing', async () => {
  const { scheduler: worker, reopen } = createHarness();
  const waiter = reopen(); // never started: it can only learn of the end from the database
  const gate = deferred();
  worker.register('job', () => gate.promise.then(() => 'done elsewhere'));
  const task = await waiter.addTask({ name: 'job' });
  const runId = await waiter.runNow(task.id);
  const outcome = waiter.waitForRun(runId);
  const started = nextEvent(worker, 'execution:started');
  await worker.start();
  await started;
  gate.resolve();
  expect(await outcome).toMatchObject({ runId, status: 'succeeded', result: 'done elsewhere' });
});

test('a run removed before it started, or never made, is RunNotFoundError; a wait can time out', async () => {
  const { scheduler } = createHarness();
  const task = await scheduler.addTask({ name: 'nobody-handles-this' });
  const runId = await scheduler.runNow(task.id);
  // Pending (no handler): the wait goes on until its timeout; the run is untouched.
  const timedOut = await scheduler.waitForRun(runId, { timeout: 20 }).catch((err: unknown) => err);
  expect(timedOut).toBeInstanceOf(WaitTimeoutError);
  expect(timedOut).toMatchObject({ code: 'WAIT_TIMEOUT' });
  expect((await scheduler.explain(task.id)).runs).toHaveLength(1);

  const waiting = scheduler.waitForRun(runId).catch((err: unknown) => err);
  await scheduler.removeTask(task.id);
  expect(await waiting).toMatchObject({ code: 'RUN_NOT_FOUND', runId });
  await expect(scheduler.waitForRun(999_999)).rejects.toBeInstanceOf(RunNotFoundError);
});

test('waitForRun refuses a bad run id or timeout, naming the field', async () => {
  const { scheduler } = createHarness();
  for (const bad of [0, -1, 1.5, Number.NaN, '3' as unknown as number]) {
    await expect(scheduler.waitForRun(bad)).rejects.toMatchObject({ field: 'runId' });
  }
  await expect(scheduler.waitForRun(1, { timeout: -5 })).rejects.toBeInstanceOf(ValidationError);
  await expect(scheduler.executions({ runId: 0 })).rejects.toMatchObject({ field: 'runId' });
});
