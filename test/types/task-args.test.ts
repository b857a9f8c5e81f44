// What the compiler accepts as a task's args, checked by `npm run typecheck`
// (each @ts-expect-error fails the check if the line it guards compiles), and
// what the same definitions do at run time.
import { expect, test } from 'vitest';
import { defineHandler, ValidationError, type JsonValue } from '../../src/index.js';
import { createHarness } from '../helpers/setup.js';

interface Backup {
  path: string;
  keep?: number;
  tags: string[];
}

test('args typed by an interface are accepted; a handler defined with its args type checks its tasks', async () => {
  const { scheduler } = createHarness();
  const backup = defineHandler('backup', (args: Backup, ctx) => `${ctx.taskName}: ${args.path} ×${args.keep ?? 1}`);
  scheduler.register(backup);
  const args: Backup = { path: '/var/lib/agent', tags: ['nightly'] };
  const task = await scheduler.addTask(backup.task({ key: 'nightly', args }));
  expect(task).toMatchObject({ name: 'backup', handler: 'backup', args });
  await scheduler.addTask({ name: 'plain', args }); // an interface value, without defineHandler
  const copied: JsonValue = task.args;
  await scheduler.addTask({ name: 'copied', args: copied });
  await scheduler.addTasks([{ name: 'many', args }]);

  // Checked by the compiler only.
  void (() => {
    // @ts-expect-error a path of the wrong type
    backup.task({ args: { path: 7, tags: [] } });
    // @ts-expect-error args are required when the handler takes some
    backup.task({ key: 'no-args' });
    // @ts-expect-error a defined handler's task names no other handler
    backup.task({ args, handler: 'other' });
  });

  await scheduler.start();
  expect((await scheduler.waitForRun(await scheduler.runNow(task.id))).result).toBe('backup: /var/lib/agent ×1');
});

test('args that JSON would change are refused by the compiler and, from JavaScript, at run time', async () => {
  const { scheduler } = createHarness();
  const refusals: unknown[] = [];
  const refuse = (promise: Promise<unknown>) => promise.catch((err: unknown) => refusals.push(err));
  // @ts-expect-error a Date is not JSON
  await refuse(scheduler.addTask({ name: 'd', args: { when: new Date() } }));
  // @ts-expect-error nor is a function
  await refuse(scheduler.addTask({ name: 'f', args: { run: () => 1 } }));
  // @ts-expect-error nor a bigint
  await refuse(scheduler.addTask({ name: 'b', args: 1n }));
  expect(refusals).toHaveLength(3);
  for (const err of refusals) expect(err).toBeInstanceOf(ValidationError);
  expect(refusals.map((err) => (err as ValidationError).field)).toEqual(['args.when', 'args.run', 'args']);
  expect(await scheduler.listTasks()).toEqual([]);
});

test('defineHandler refuses a bad name or handler, and a task that names its own handler', () => {
  expect(() => defineHandler('', () => 1)).toThrow(ValidationError);
  expect(() => defineHandler('x', 'nope' as never)).toThrow(/handler/);
  const job = defineHandler('job', () => 1);
  expect(() => job.task({ handler: 'other' } as never)).toThrow(expect.objectContaining({ field: 'handler' }));
  expect(job.task({})).toEqual({ name: 'job', handler: 'job' });
});
