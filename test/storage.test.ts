import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { DatabaseError, EventTrigger, PeriodicTrigger, Scheduler } from '../src/index.js';
import { openSqlite } from '../src/store/sqlite/open.js';
import { nextEvent } from '../src/testing.js';
import { createHarness, silentLogger, tempDbPath } from './helpers/setup.js';

test('the database runs in WAL mode with a busy timeout and foreign keys on, and is migrated on open', () => {
  const { sqlite } = openSqlite(tempDbPath());
  try {
    expect(sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(sqlite.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(sqlite.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(sqlite.pragma('auto_vacuum', { simple: true })).toBe(2); // INCREMENTAL
    const tables = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['executions', 'runs', 'tasks', 'triggers']));
  } finally {
    sqlite.close();
  }
});

test('durability normal uses synchronous NORMAL', () => {
  const { sqlite } = openSqlite(tempDbPath(), { durability: 'normal' });
  expect(sqlite.pragma('synchronous', { simple: true })).toBe(1);
  sqlite.close();
});

test('history is plain SQL: the documented columns of executions', async () => {
  const { scheduler, database } = createHarness();
  scheduler.register('sql', () => ({ rows: 3 }));
  const task = await scheduler.addTask({ name: 'sql', triggers: [new EventTrigger({ event: 'e' })] });
  await scheduler.start();
  const done = nextEvent(scheduler, 'execution:succeeded');
  await scheduler.fireEvent('e', { why: 'test' });
  await done;
  await scheduler.removeTask(task.id);
  const db = new Database(database, { readonly: true });
  const row = db
    .prepare(
      `SELECT id, task_id, attempt, status, started_at, ended_at, error, result, event_name, event_payload,
              duration_ms, cpu_user_us, cpu_system_us, rss_bytes FROM executions WHERE task_id = ?`,
    )
    .get(task.id) as Record<string, unknown>;
  db.close();
  expect(row).toMatchObject({ task_id: task.id, attempt: 1, status: 'succeeded', error: null, result: '{"rows":3}' });
  expect(row.event_name).toBe('e');
  expect(row.ended_at).toBe(row.started_at); // the fake clock did not move
  expect(row.duration_ms as number).toBeGreaterThanOrEqual(0);
  expect(typeof row.cpu_user_us).toBe('number');
  expect(row.rss_bytes as number).toBeGreaterThan(0);
});

test('a file that is not a database is refused with a typed error', () => {
  const path = tempDbPath();
  writeFileSync(path, 'this is not a database, just some text that is long enough to have a header'.repeat(20));
  expect(() => new Scheduler({ database: path, logger: silentLogger })).toThrow(DatabaseError);
  try {
    new Scheduler({ database: path, logger: silentLogger });
  } catch (err) {
    expect((err as DatabaseError).code).toBe('DATABASE_CORRUPT');
  }
});

test('a schema newer than this package is refused, not downgraded', async () => {
  const path = tempDbPath();
  const first = new Scheduler({ database: path, logger: silentLogger });
  await first.close();
  const db = new Database(path);
  db.prepare('INSERT INTO __background_tasks_migrations (hash, created_at) VALUES (?, ?)').run(
    'future',
    Date.UTC(2100, 0, 1),
  );
  db.close();
  expect(() => new Scheduler({ database: path, logger: silentLogger })).toThrow(
    expect.objectContaining({ code: 'DATABASE_SCHEMA_TOO_NEW' }),
  );
});

test('a stored trigger that can no longer be scheduled is disabled and reported; the loop carries on', async () => {
  const { scheduler, clock, database } = createHarness();
  const broken = await scheduler.addTask({ name: 'broken', triggers: [new PeriodicTrigger({ cron: '* * * * *' })] });
  const db = new Database(database);
  db.prepare("UPDATE triggers SET cron = 'not a cron' WHERE task_id = ?").run(broken.id);
  db.close();
  scheduler.register('fine', () => 'ok');
  const fine = await scheduler.addTask({ name: 'fine', triggers: [new PeriodicTrigger({ interval: 90_000 })] });
  await scheduler.start();
  const reported = nextEvent(scheduler, 'scheduler:error');
  const ran = nextEvent(scheduler, 'execution:succeeded');
  await clock.advance(90_000);
  expect(await reported).toMatchObject({
    code: 'TRIGGER_BROKEN',
    message: expect.stringContaining('cannot be scheduled'),
  });
  expect((await ran).taskId).toBe(fine.id);
  expect((await scheduler.getTask(broken.id))!.triggers[0]!.nextFireAt).toBeNull();
});

test('a database file in a folder that does not exist is refused with a typed error naming the field', () => {
  const database = `${tempDbPath()}-missing/sub/tasks.db`;
  expect(() => new Scheduler({ database, logger: silentLogger })).toThrow(
    expect.objectContaining({ name: 'ValidationError', code: 'INVALID_ARGUMENT', field: 'database' }),
  );
});
