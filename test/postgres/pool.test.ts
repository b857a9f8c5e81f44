import pg from 'pg';
import { expect, test } from 'vitest';
import { OneTimeTrigger, Scheduler } from '../../src/index.js';
import { nextEvent } from '../../src/testing.js';
import { silentLogger, testDatabase } from '../helpers/setup.js';

test('a pg Pool of the application works as the database, and stays open after close', async () => {
  const pool = new pg.Pool({ connectionString: testDatabase(), max: 4 });
  try {
    const scheduler = new Scheduler({ database: pool, logger: silentLogger });
    scheduler.register('hello', (args: { to: string }) => `hello ${args.to}`);
    await scheduler.addTask({ name: 'hello', args: { to: 'pool' }, triggers: [new OneTimeTrigger({ delay: 0 })] });
    const done = nextEvent(scheduler, 'execution:succeeded');
    await scheduler.start();
    await done;
    expect((await scheduler.executions())[0]).toMatchObject({ status: 'succeeded', result: 'hello pool' });
    await scheduler.close();
    // The pool is the application's: still usable, and it sees the scheduler's tables.
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM background_tasks.executions');
    expect(rows[0]!.n).toBe(1);
  } finally {
    await pool.end();
  }
});

test('PostgreSQL options that do not apply are refused, naming the field', () => {
  expect(() => new Scheduler({ database: testDatabase(), maxDatabaseSize: 1 << 20 })).toThrow(
    expect.objectContaining({ field: 'maxDatabaseSize' }),
  );
  expect(() => new Scheduler({ database: {} as never })).toThrow(expect.objectContaining({ field: 'database' }));
});
