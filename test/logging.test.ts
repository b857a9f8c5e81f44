import { expect, test } from 'vitest';
import { nextEvent } from '../src/testing.js';
import { capturingLogger, createHarness } from './helpers/setup.js';

test('each execution logs through a child logger: start and success at debug, retry at warn, final failure at error', async () => {
  const { logger, lines } = capturingLogger();
  const { scheduler, clock } = createHarness({ logger });
  scheduler.register('ok', (_args, ctx) => {
    ctx.logger.info('inside the handler');
  });
  scheduler.register('bad', () => {
    throw new Error('boom');
  });
  const ok = await scheduler.addTask({ name: 'ok' });
  const bad = await scheduler.addTask({ name: 'bad', retryPolicy: { maxRetries: 1, delay: 10 } });
  await scheduler.start();
  const succeeded = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.runNow(ok.id);
  const { executionId } = await succeeded;
  const failed = nextEvent(scheduler, 'execution:failed');
  await scheduler.runNow(bad.id);
  await clock.advance(10);
  await failed;

  const bindings = { taskId: ok.id, taskName: 'ok', executionId, attempt: 1 };
  expect(lines).toContainEqual(expect.objectContaining({ ...bindings, level: 20, msg: 'execution started' }));
  expect(lines).toContainEqual(expect.objectContaining({ ...bindings, level: 30, msg: 'inside the handler' }));
  expect(lines).toContainEqual(expect.objectContaining({ ...bindings, level: 20, msg: 'execution succeeded' }));
  const retry = lines.find((l) => l.taskId === bad.id && l.level === 40);
  expect(retry).toMatchObject({ attempt: 1, msg: 'execution failed; retrying' });
  const final = lines.find((l) => l.taskId === bad.id && l.level === 50);
  expect(final).toMatchObject({
    attempt: 2,
    msg: 'execution failed',
    err: expect.objectContaining({ message: 'boom' }),
  });
});
