// Hostile checks through the built package's public API only.
import { unlinkSync } from 'node:fs';
import { pino } from 'pino';
import { expect, test } from 'vitest';
import {
  DatabaseError,
  EventTrigger,
  MAX_JSON_BYTES,
  OneTimeTrigger,
  PeriodicTrigger,
  Scheduler,
  ValidationError,
  type SchedulerEventMap,
} from 'background-tasks';
import { FakeClock } from 'background-tasks/testing';
import { dbFile, fresh, until } from './helpers.js';

const quiet = pino({ level: 'silent' });

test('bad input of every kind is a ValidationError naming the field, and nothing is written', async () => {
  const { scheduler } = fresh();
  const cases: [() => unknown, string][] = [
    [() => scheduler.addTask({ name: 'a', args: 'x'.repeat(MAX_JSON_BYTES) }), 'args'],
    [() => scheduler.addTask({ name: 'n'.repeat(201) }), 'name'],
    [
      () =>
        scheduler.addTask({ name: 'a', triggers: Array.from({ length: 33 }, () => new EventTrigger({ event: 'e' })) }),
      'triggers',
    ],
    [() => scheduler.addTask({ name: 'a', args: { d: new Date() } as never }), 'args.d'],
    [() => scheduler.addTask({ name: 'a\ud800' }), 'name'],
    [() => scheduler.fireEvent('e', { big: 'x'.repeat(MAX_JSON_BYTES) }), 'payload'],
    [() => scheduler.addTasks([{ name: 'ok' }, { name: '' }]), 'definitions[1].name'],
    [() => new PeriodicTrigger({ cron: '0 0 30 2 *' }), 'trigger.cron'],
    [() => new PeriodicTrigger({ cron: '* * * * *', timezone: 'Nowhere/Atlantis' }), 'trigger.timezone'],
  ];
  for (const [attempt, field] of cases) {
    const error = await Promise.resolve()
      .then(attempt)
      .catch((err: unknown) => err);
    expect(error, field).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field });
  }
  expect(await scheduler.listTasks()).toEqual([]);
});

test('strings with quotes, SQL and emoji come back exactly; NUL only inside args', async () => {
  const { scheduler } = fresh();
  const text = `'); DROP TABLE tasks; -- "" 🧨`;
  await expect(scheduler.addTask({ name: `a\u0000b` })).rejects.toMatchObject({ field: 'name' });
  scheduler.register(text, (args) => args);
  const task = await scheduler.addTask({ name: text, key: text, args: { text: `${text}\u0000` } });
  await scheduler.start();
  await scheduler.runNow(task.id);
  await until(async () => (await scheduler.executions({ taskId: task.id, status: 'succeeded' })).length === 1);
  const args = { text: `${text}\u0000` };
  expect(await scheduler.getTask(task.id)).toMatchObject({ name: text, key: text, args });
  expect((await scheduler.executions({ taskId: task.id }))[0]).toMatchObject({ taskName: text, result: args });
});

test('a capped database fills up with a typed error, keeps what it had, and works again once space is freed', async () => {
  const scheduler = new Scheduler({
    database: dbFile(),
    logger: quiet,
    maxDatabaseSize: 200 * 1024,
    clock: new FakeClock(),
  });
  const ids: number[] = [];
  let error: unknown;
  while (error === undefined && ids.length < 100) {
    await scheduler.addTask({ name: 'filler', args: 'x'.repeat(20_000) }).then(
      (t) => ids.push(t.id),
      (err: unknown) => (error = err),
    );
  }
  expect(error).toBeInstanceOf(DatabaseError);
  expect(error).toMatchObject({ code: 'DATABASE_FULL' });
  expect((await scheduler.listTasks()).map((t) => t.id)).toEqual(ids);
  await scheduler.removeTask(ids[0]!);
  await scheduler.removeTask(ids[1]!);
  await expect(scheduler.addTask({ name: 'again', args: 'x'.repeat(20_000) })).resolves.toMatchObject({
    name: 'again',
  });
  await scheduler.close();
});

test('a database file deleted under a running scheduler stops it with DATABASE_GONE', async () => {
  const clock = new FakeClock();
  const database = dbFile();
  const scheduler = new Scheduler({ database, logger: quiet, clock });
  await scheduler.addTask({ name: 'x', triggers: [new PeriodicTrigger({ interval: 1000 })] });
  await scheduler.start();
  const errors: SchedulerEventMap['scheduler:error'][0][] = [];
  scheduler.on('scheduler:error', (error) => errors.push(error));
  unlinkSync(database);
  for (let i = 0; i < 10; i++) await clock.advance(1000);
  expect(errors.some((e) => (e as DatabaseError).code === 'DATABASE_GONE')).toBe(true);
  await scheduler.close();
});

test('handlers that throw anything, return non-JSON, call back into the scheduler or remove their own task do not stall it', async () => {
  const { scheduler } = fresh(2);
  scheduler.register('throws-string', () => {
    throw 'just a string';
  });
  scheduler.register('returns-function', () => () => 0);
  scheduler.register('reentrant', async (_args, ctx) => {
    await scheduler.addTask({ name: 'child', triggers: [new OneTimeTrigger({ delay: 0 })] });
    await scheduler.fireEvent('nobody');
    await scheduler.removeTask(ctx.taskId);
  });
  scheduler.register('child', () => 'child ran');
  const tasks = await scheduler.addTasks([
    { name: 'throws-string' },
    { name: 'returns-function' },
    { name: 'reentrant' },
  ]);
  await scheduler.start();
  for (const task of tasks) await scheduler.runNow(task.id);
  await until(
    async () => (await scheduler.executions({ limit: 10 })).filter((e) => e.status !== 'running').length === 4,
    'four ends',
  );
  const rows = await scheduler.executions({ limit: 10 });
  expect(Object.fromEntries(rows.map((r) => [r.taskName, [r.status, r.error ?? r.result]]))).toEqual({
    'throws-string': ['failed', 'just a string'],
    'returns-function': ['succeeded', null],
    reentrant: ['cancelled', 'task removed'],
    child: ['succeeded', 'child ran'],
  });
});
