import { expect, test } from 'vitest';
import { OneTimeTrigger } from '../src/index.js';
import { nextEvent } from '../src/testing.js';
import { createHarness } from './helpers/setup.js';

test('a one-time task runs once and is removed', async () => {
  const { scheduler, clock } = createHarness();
  const calls: unknown[] = [];
  scheduler.register('hello', async (args) => {
    calls.push(args);
    return { ok: true };
  });
  const task = await scheduler.addTask({
    name: 'hello',
    args: { a: 1 },
    triggers: [new OneTimeTrigger({ delay: 1000 })],
  });
  await scheduler.start();
  const done = nextEvent(scheduler, 'execution:succeeded');
  await clock.advance(1000);
  const event = await done;
  expect(event.taskId).toBe(task.id);
  expect(calls).toEqual([{ a: 1 }]);
  const [execution] = await scheduler.executions({ taskId: task.id });
  expect(execution).toMatchObject({ status: 'succeeded', attempt: 1, result: { ok: true } });
  expect(await scheduler.getTask(task.id)).toBeUndefined();
});
