import { expect, test } from 'vitest';
import { EventTrigger, MAX_JSON_BYTES, OneTimeTrigger, ValidationError } from '../../src/index.js';
import { MAX_KEY_LENGTH, MAX_NAME_LENGTH, MAX_TRIGGERS } from '../../src/task.js';
import { nextEvent } from '../../src/testing.js';
import { createHarness } from '../helpers/setup.js';

test.each([
  ['args larger than the maximum', { name: 'a', args: 'x'.repeat(MAX_JSON_BYTES) }, 'args'],
  ['a name longer than the maximum', { name: 'n'.repeat(MAX_NAME_LENGTH + 1) }, 'name'],
  ['a key longer than the maximum', { name: 'a', key: 'k'.repeat(MAX_KEY_LENGTH + 1) }, 'key'],
  [
    'more triggers than the maximum',
    { name: 'a', triggers: Array.from({ length: MAX_TRIGGERS + 1 }, () => new OneTimeTrigger({ delay: 1 })) },
    'triggers',
  ],
])('refuses %s, naming the field and writing nothing', async (_, definition, field) => {
  const { scheduler } = createHarness();
  await expect(scheduler.addTask(definition)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field });
  expect(await scheduler.listTasks()).toEqual([]);
});

test('limits are inclusive: the largest accepted values are stored', async () => {
  const { scheduler } = createHarness();
  const args = 'x'.repeat(MAX_JSON_BYTES - 2); // the JSON string adds two quotes
  const task = await scheduler.addTask({
    name: 'n'.repeat(MAX_NAME_LENGTH),
    key: 'k'.repeat(MAX_KEY_LENGTH),
    args,
    triggers: Array.from({ length: MAX_TRIGGERS }, (_, i) => new EventTrigger({ event: `e${i}` })),
  });
  expect((await scheduler.getTask(task.id))?.args).toBe(args);
});

test('an event payload larger than the maximum is refused before it is stored', async () => {
  const { scheduler } = createHarness();
  const task = await scheduler.addTask({ name: 'l', triggers: [new EventTrigger({ event: 'big' })] });
  const error = await scheduler.fireEvent('big', { blob: 'x'.repeat(MAX_JSON_BYTES) }).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(ValidationError);
  expect(error).toMatchObject({ field: 'payload' });
  expect((await scheduler.getTask(task.id))?.triggers[0]?.fireCount).toBe(0);
});

test('names, keys, payloads and results with quotes, SQL and unusual Unicode round-trip exactly', async () => {
  const { scheduler } = createHarness();
  const strange = [`'; DELETE FROM tasks; --`, '"quoted"', '\u{1F600}\u200d\u{1F4BB}', 'نص عربي', '\\'];
  for (const text of strange) {
    scheduler.register(text, (args, ctx) => ({ args, payload: ctx.event?.payload ?? null }));
    const task = await scheduler.addTask({
      name: text,
      key: text,
      args: { text },
      triggers: [new EventTrigger({ event: text })],
    });
    const done = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === task.id);
    await scheduler.start();
    await scheduler.fireEvent(text, { text });
    await done;
    expect(await scheduler.getTask(task.id)).toMatchObject({ name: text, key: text, handler: text, args: { text } });
    const [execution] = await scheduler.executions({ taskId: task.id });
    expect(execution).toMatchObject({
      taskName: text,
      event: { name: text, payload: { text } },
      result: { args: { text }, payload: { text } },
    });
  }
});

test('a NUL character in args, payloads and results round-trips; in a name, key or event name it is refused', async () => {
  const { scheduler } = createHarness();
  const text = 'a\u0000b';
  scheduler.register('echo', (args, ctx) => ({ args, payload: ctx.event?.payload ?? null, text }));
  const task = await scheduler.addTask({ name: 'echo', args: { text }, triggers: [new EventTrigger({ event: 'e' })] });
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.start();
  await scheduler.fireEvent('e', { text });
  await done;
  const [execution] = await scheduler.executions({ taskId: task.id });
  expect(execution).toMatchObject({
    event: { payload: { text } },
    result: { args: { text }, payload: { text }, text },
  });
  await expect(scheduler.addTask({ name: text })).rejects.toMatchObject({ field: 'name' });
  await expect(scheduler.addTask({ name: 'n', key: text })).rejects.toMatchObject({ field: 'key' });
  await expect(scheduler.addTask({ name: 'n', description: text })).rejects.toMatchObject({ field: 'description' });
  await expect(scheduler.fireEvent(text)).rejects.toMatchObject({ field: 'name' });
  expect(await scheduler.listTasks()).toHaveLength(1);
  // A handler's error text is recorded, not lost (on PostgreSQL, NUL becomes U+FFFD).
  scheduler.register('thrower', () => {
    throw new Error(text);
  });
  const failed = nextEvent(scheduler, 'execution:failed');
  await scheduler.addTask({ name: 'thrower', triggers: [new OneTimeTrigger({ delay: 0 })] });
  await failed;
  const [last] = await scheduler.executions({ status: 'failed' });
  expect(last?.error).toMatch(/a.b/);
});

test('a lone surrogate, which cannot be stored as UTF-8, is refused rather than altered', async () => {
  const { scheduler } = createHarness();
  await expect(scheduler.addTask({ name: 'a\ud800' })).rejects.toMatchObject({ field: 'name' });
  await expect(scheduler.addTask({ name: 'a', args: { t: '\udc00' } })).rejects.toMatchObject({ field: 'args.t' });
  await expect(scheduler.fireEvent('e', ['\ud800'])).rejects.toMatchObject({ field: 'payload[0]' });
  expect(await scheduler.listTasks()).toEqual([]);
});
