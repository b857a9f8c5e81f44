import { describe, expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger, PeriodicTrigger, Scheduler, ValidationError } from '../../src/index.js';
import { createHarness, tempDbPath } from '../helpers/setup.js';

const cycle: Record<string, unknown> = {};
cycle.self = cycle;

const bad: [string, Record<string, unknown>, string][] = [
  ['an empty name', { name: '' }, 'name'],
  ['a blank name', { name: '   ' }, 'name'],
  ['a name that is not a string', { name: 42 }, 'name'],
  ['a non-integer priority', { name: 'a', priority: 1.5 }, 'priority'],
  ['a string priority', { name: 'a', priority: '1' }, 'priority'],
  ['a negative maxRetries', { name: 'a', retryPolicy: { maxRetries: -1, delay: 0 } }, 'retryPolicy.maxRetries'],
  ['a negative retry delay', { name: 'a', retryPolicy: { maxRetries: 1, delay: -1 } }, 'retryPolicy.delay'],
  ['a function in args', { name: 'a', args: { f: () => 1 } }, 'args.f'],
  ['a BigInt in args', { name: 'a', args: [1n] }, 'args[0]'],
  ['NaN in args', { name: 'a', args: { n: Number.NaN } }, 'args.n'],
  ['a Date in args', { name: 'a', args: { when: new Date() } }, 'args.when'],
  ['a cycle in args', { name: 'a', args: cycle }, 'args.self'],
  ['a zero timeout', { name: 'a', timeout: 0 }, 'timeout'],
  ['a trigger that is not a trigger', { name: 'a', triggers: [{ interval: 5 }] }, 'triggers[0]'],
  ['triggers that are not an array', { name: 'a', triggers: 'often' }, 'triggers'],
  ['an empty key', { name: 'a', key: '' }, 'key'],
  ['a non-boolean paused', { name: 'a', paused: 'yes' }, 'paused'],
];

describe('addTask refuses bad definitions and writes nothing', () => {
  test.each(bad)('%s', async (_, definition, field) => {
    const { scheduler } = createHarness();
    const error = await scheduler.addTask(definition as never).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field });
    expect((error as Error).message).toContain(field);
    expect(await scheduler.listTasks()).toEqual([]);
  });

  test('bad triggers are refused when built, before anything reaches the store', () => {
    expect(() => new PeriodicTrigger({ cron: 'every day' })).toThrow(ValidationError);
    expect(() => new PeriodicTrigger({ interval: -1000 })).toThrow(ValidationError);
    expect(() => new OneTimeTrigger({ delay: -1 })).toThrow(ValidationError);
  });
});

describe('other bad input', () => {
  test('fireEvent refuses a non-JSON payload and an empty name, and stores nothing', async () => {
    const { scheduler } = createHarness();
    const task = await scheduler.addTask({ name: 'a', triggers: [new EventTrigger({ event: 'e' })] });
    await expect(scheduler.fireEvent('e', { f: Symbol('x') })).rejects.toMatchObject({ field: 'payload.f' });
    await expect(scheduler.fireEvent('')).rejects.toMatchObject({ field: 'name' });
    expect((await scheduler.getTask(task.id))?.triggers[0]?.fireCount).toBe(0);
  });

  test('ids, limits and statuses are checked', async () => {
    const { scheduler } = createHarness();
    await expect(scheduler.getTask(0)).rejects.toMatchObject({ field: 'id' });
    await expect(scheduler.runNow(-1)).rejects.toMatchObject({ field: 'id' });
    await expect(scheduler.executions({ limit: 0 })).rejects.toMatchObject({ field: 'limit' });
    await expect(scheduler.executions({ status: 'done' as never })).rejects.toMatchObject({ field: 'status' });
    await expect(scheduler.stop({ timeout: -1 })).rejects.toMatchObject({ field: 'timeout' });
    expect(() => scheduler.register('', async () => {})).toThrow(ValidationError);
    expect(() => scheduler.register('x', 'not a function' as never)).toThrow(
      expect.objectContaining({ field: 'handler' }),
    );
  });

  test('scheduler options are checked', () => {
    expect(() => new Scheduler({ database: tempDbPath(), maxRunningTasks: 0 })).toThrow(
      expect.objectContaining({ field: 'maxRunningTasks' }),
    );
    expect(() => new Scheduler({ database: '' })).toThrow(expect.objectContaining({ field: 'database' }));
    expect(() => new Scheduler({ database: tempDbPath(), durability: 'fast' as never })).toThrow(
      expect.objectContaining({ field: 'durability' }),
    );
  });

  test('names and payloads with quotes, SQL and unusual Unicode come back exactly', async () => {
    const { scheduler } = createHarness();
    const name = `Robert'); DROP TABLE tasks;-- "é" 🎉 \u202e`;
    const args = { text: name, nested: [{ q: '"\'`' }] };
    const task = await scheduler.addTask({ name, key: name, args, triggers: [new EventTrigger({ event: name })] });
    const read = await scheduler.getTask(task.id);
    expect(read).toMatchObject({ name, key: name, args });
    expect(read?.triggers[0]).toMatchObject({ kind: 'event', event: name });
  });
});

describe('addTasks', () => {
  test('adds many tasks in one call, in order', async () => {
    const { scheduler } = createHarness();
    const tasks = await scheduler.addTasks([...Array(100).keys()].map((i) => ({ name: `t${i}`, args: i })));
    expect(tasks.map((t) => t.args)).toEqual([...Array(100).keys()]);
    expect(await scheduler.listTasks()).toHaveLength(100);
  });

  test('refuses the whole batch if one definition is bad, naming its index, and writes nothing', async () => {
    const { scheduler } = createHarness();
    const error = await scheduler
      .addTasks([{ name: 'ok' }, { name: 'bad', priority: 0.5 }])
      .catch((err: unknown) => err);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'definitions[1].priority' });
    expect(await scheduler.listTasks()).toEqual([]);
  });
});

describe('mistakes JavaScript would let through', () => {
  test('an unknown field of a definition is refused, by name, and nothing is written', async () => {
    const { scheduler } = createHarness();
    const error = await scheduler
      .addTask({ name: 'typo', prority: 5 } as unknown as { name: string })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'prority' });
    expect(await scheduler.listTasks()).toEqual([]);
  });

  test('register after close is refused with SCHEDULER_CLOSED', async () => {
    const { scheduler } = createHarness();
    await scheduler.close();
    expect(() => scheduler.register('late', () => 1)).toThrow(expect.objectContaining({ code: 'SCHEDULER_CLOSED' }));
  });
});
