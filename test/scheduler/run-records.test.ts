import { expect, test } from 'vitest';
import { OneTimeTrigger, ValidationError } from '../../src/index.js';
import { nextEvent } from '../../src/testing.js';
import { closeOnFakeClock, createHarness } from '../helpers/setup.js';

// What history tells apart (issue 12, findings 9, 10, 13): a final failure from a
// retried one, a keyed task's key, and the run a runNow made; and a keyed task
// declared at every start-up that must run once in the database's life.

test('executions mark the attempt that ended its run final, and carry the task key', async () => {
  const { scheduler, clock } = createHarness();
  let calls = 0;
  scheduler.register('flaky', () => {
    calls++;
    throw new Error(`failure ${calls}`);
  });
  const task = await scheduler.addTask({
    key: 'flaky-key',
    name: 'flaky',
    retryPolicy: { maxRetries: 1, delay: 1_000 },
  });
  await scheduler.start();
  const finalFailure = nextEvent(scheduler, 'execution:failed', undefined, { timeout: 30_000 });
  const runId = await scheduler.runNow(task.id);
  expect(runId).toBeGreaterThan(0);
  await clock.advance(0);
  await clock.advance(1_000);
  await finalFailure;
  const history = await scheduler.executions({ taskId: task.id });
  expect(history.map((e) => [e.attempt, e.status, e.final, e.runId, e.taskKey])).toEqual([
    [2, 'failed', true, runId, 'flaky-key'],
    [1, 'failed', false, runId, 'flaky-key'],
  ]);
  await expect(scheduler.runNow(9_999_999)).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
  await closeOnFakeClock(scheduler, clock);
});

test('addTaskOnce adds a keyed task once in the life of the database, across restarts', async () => {
  const harness = createHarness();
  let scheduler = harness.scheduler;
  const { clock } = harness;
  const definition = {
    key: 'provision',
    name: 'provision',
    triggers: [new OneTimeTrigger({ delay: 0 })],
  };
  let provisioned = 0;
  for (let boot = 0; boot < 3; boot++) {
    if (boot > 0) scheduler = harness.reopen();
    scheduler.register('provision', () => ++provisioned);
    const added = await scheduler.addTaskOnce(definition);
    if (boot === 0) expect(added).toMatchObject({ key: 'provision' });
    else expect(added).toBeNull();
    const ran = boot === 0 ? nextEvent(scheduler, 'execution:succeeded', undefined, { timeout: 30_000 }) : null;
    await scheduler.start();
    await clock.advance(0);
    await ran;
    await clock.advance(1_000);
    await closeOnFakeClock(scheduler, clock);
  }
  expect(provisioned).toBe(1);
  // A key that is taken returns the task unchanged; no key at all is refused.
  scheduler = harness.reopen();
  const kept = await scheduler.addTask({ key: 'kept', name: 'kept', priority: 1 });
  expect(await scheduler.addTaskOnce({ key: 'kept', name: 'kept', priority: 9 })).toMatchObject({
    id: kept.id,
    priority: 1,
  });
  await expect(scheduler.addTaskOnce({ name: 'keyless' })).rejects.toBeInstanceOf(ValidationError);
  await expect(scheduler.addTaskOnce({ name: 'keyless' })).rejects.toMatchObject({ field: 'key' });
  // A removed keyed task spends its key too.
  await scheduler.removeTask(kept.id);
  expect(await scheduler.addTaskOnce({ key: 'kept', name: 'kept' })).toBeNull();
  await closeOnFakeClock(scheduler, clock);
});
