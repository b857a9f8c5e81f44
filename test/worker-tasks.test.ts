import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { ValidationError } from '../src/index.js';
import { nextEvent } from '../src/testing.js';
import { capturingLogger, createHarness, tempDir } from './helpers/setup.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/modules/${name}.mjs`, import.meta.url));

test('a module task runs in a worker thread, with its own CPU and heap figures and its logs forwarded', async () => {
  const { logger, lines } = capturingLogger();
  const { scheduler } = createHarness({ logger });
  const task = await scheduler.addTask({ name: 'busy', module: fixture('busy'), args: { n: 21 } });
  expect(task.module).toBe(fixture('busy'));
  await scheduler.start();
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.runNow(task.id); // no register() needed
  expect((await done).result).toMatchObject({ doubled: 42, attempt: 1 });
  const [row] = await scheduler.executions({ taskId: task.id });
  expect(row!.cpuUserUs).toBeGreaterThan(1_000);
  expect(row!.rssBytes).toBeGreaterThan(0);
  expect(lines).toContainEqual(expect.objectContaining({ msg: 'busy in a worker', n: 21, taskId: task.id }));
});

test('a module task that outgrows memoryLimitMb fails, and the scheduler carries on', async () => {
  const { scheduler } = createHarness();
  const task = await scheduler.addTask({ name: 'hog', module: fixture('hog'), memoryLimitMb: 16 });
  await scheduler.start();
  const failed = nextEvent(scheduler, 'execution:failed');
  await scheduler.runNow(task.id);
  expect(String((await failed).error?.message) + String((await failed).error)).toMatch(/memory/i);
  expect(scheduler.runningTasksCount()).toBe(0);
});

test('a module task that ignores its signal is terminated at its timeout and recorded as failed', async () => {
  const { scheduler, clock } = createHarness({ maxRunningTasks: 1 });
  const task = await scheduler.addTask({ name: 'stubborn', module: fixture('stubborn'), timeout: 500 });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(task.id);
  await started;
  const failed = nextEvent(scheduler, 'execution:failed');
  await clock.advance(500);
  expect((await failed).error).toMatchObject({ code: 'TASK_TIMEOUT' });
  expect((await scheduler.executions({ taskId: task.id }))[0]).toMatchObject({ status: 'failed' });
  expect(scheduler.runningTasksCount()).toBe(0);
});

test('stop aborts a module task through its signal; it is recorded interrupted', async () => {
  const { scheduler } = createHarness();
  const task = await scheduler.addTask({ name: 'polite', module: fixture('polite') });
  await scheduler.start();
  const started = nextEvent(scheduler, 'execution:started');
  await scheduler.runNow(task.id);
  await started; // the abort may reach the worker before or after its module loads
  await scheduler.stop({ timeout: 0 });
  expect((await scheduler.executions({ taskId: task.id }))[0]).toMatchObject({ status: 'interrupted' });
});

test('memoryLimitMb needs a module; a module that does not exist is refused, and one removed later fails the attempt', async () => {
  const { scheduler } = createHarness();
  await expect(scheduler.addTask({ name: 'x', memoryLimitMb: 64 })).rejects.toBeInstanceOf(ValidationError);
  await expect(scheduler.addTask({ name: 'missing', module: fixture('no-such-module') })).rejects.toMatchObject({
    code: 'INVALID_ARGUMENT',
    field: 'module',
  });
  await expect(scheduler.addTask({ name: 'both', module: fixture('polite'), handler: 'polite' })).rejects.toMatchObject(
    { field: 'handler' },
  );
  const module = join(tempDir(), 'gone.mjs');
  writeFileSync(module, 'export default () => 1;\n');
  const task = await scheduler.addTask({ name: 'gone', module });
  unlinkSync(module);
  await scheduler.start();
  const failed = nextEvent(scheduler, 'execution:failed');
  await scheduler.runNow(task.id);
  expect((await failed).error?.message).toMatch(/Cannot find module|ERR_MODULE_NOT_FOUND|gone/);
});
