import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { expect, test } from 'vitest';
import { Scheduler } from '../../src/index.js';
import { nextEvent } from '../../src/testing.js';
import { MIGRATIONS_FOLDER, MIGRATIONS_SCHEMA, MIGRATIONS_TABLE } from '../../src/store/postgres/connection.js';
import { migrationsOfRelease } from '../helpers/release.js';
import { silentLogger, testDatabase } from '../helpers/setup.js';

// A database of the release before groups and rate limits (migrations 0000–0006),
// with a task, a waiting run and history, is upgraded in place by this one.

test('a database of the release before groups and rate limits is upgraded in place, and its runs run', async () => {
  const database = testDatabase();
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    await migrate(drizzle(client), {
      migrationsFolder: migrationsOfRelease(MIGRATIONS_FOLDER, 7),
      migrationsSchema: MIGRATIONS_SCHEMA,
      migrationsTable: MIGRATIONS_TABLE,
    });
    await client.query(`
      INSERT INTO background_tasks.tasks (id, key, name, handler, args, priority, created_at, updated_at)
        OVERRIDING SYSTEM VALUE VALUES (1, 'upload', 'upload', 'upload', '"logs"', 0, 0, 0);
      INSERT INTO background_tasks.runs (id, task_id, reason, state, priority, due_at, attempt, created_at)
        OVERRIDING SYSTEM VALUE VALUES (7, 1, 'manual', 'waiting', 0, 0, 1, 0);
      INSERT INTO background_tasks.executions (id, task_id, task_name, run_id, attempt, status, reason, scheduled_at,
                                               started_at, ended_at, final)
        OVERRIDING SYSTEM VALUE VALUES (3, 1, 'upload', 6, 1, 'failed', 'manual', 0, 0, 1, true);
    `);
  } finally {
    await client.end();
  }

  const scheduler = new Scheduler({ database, logger: silentLogger });
  try {
    expect(await scheduler.getTask(1)).toMatchObject({ key: 'upload', groups: [], rateLimit: null });
    expect(await scheduler.executions()).toMatchObject([{ id: 3, status: 'failed', final: true }]);
    const ran = nextEvent(scheduler, 'execution:succeeded');
    scheduler.register('upload', (args) => args);
    await scheduler.start();
    expect(await ran).toMatchObject({ runId: 7, result: 'logs' });
    await scheduler.defineGroup('modem', { maxRunning: 1 });
    await scheduler.addTask({ key: 'upload', name: 'upload', groups: ['modem'], rateLimit: { max: 1, per: 1000 } });
    const again = nextEvent(scheduler, 'execution:succeeded');
    await scheduler.runNow(1);
    expect(await again).toMatchObject({ taskId: 1 });
    expect(await scheduler.groups()).toMatchObject([{ name: 'modem', maxRunning: 1 }]);
  } finally {
    await scheduler.close();
  }
});
