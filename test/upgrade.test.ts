import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { expect, test } from 'vitest';
import { OneTimeTrigger, Scheduler } from '../src/index.js';
import { nextEvent } from '../src/testing.js';
import { MIGRATIONS_FOLDER, MIGRATIONS_TABLE } from '../src/store/sqlite/open.js';
import { migrationsOfRelease } from './helpers/release.js';
import { silentLogger, tempDbPath } from './helpers/setup.js';

// A file made by the previous release (its schema: migration 0000 alone), with
// history in it, is upgraded in place by this one: nothing lost, and the new
// columns filled in for the rows it already had.

/** The migrations folder as a release that shipped the first `count` migrations had it. */
const releaseWith = (count: number) => migrationsOfRelease(MIGRATIONS_FOLDER, count);

/** The first release's schema: migration 0000 alone. */
const previousRelease = () => releaseWith(1);

test('a file of the previous release is upgraded in place, its history marked final where it ended runs', async () => {
  const path = tempDbPath();
  const old = new Database(path);
  migrate(drizzle(old), { migrationsFolder: previousRelease(), migrationsTable: MIGRATIONS_TABLE });
  old.exec(`
    INSERT INTO tasks (id, key, name, handler, args, priority, created_at, updated_at)
      VALUES (1, 'report', 'report', 'report', 'null', 0, 0, 0);
    -- Run 10 failed, was retried and failed for good; run 11 failed and waits for its retry;
    -- run 12 succeeded.
    INSERT INTO runs (id, task_id, reason, state, priority, due_at, attempt, created_at)
      VALUES (11, 1, 'manual', 'waiting', 0, 5000, 2, 0);
    INSERT INTO executions (id, task_id, task_name, run_id, attempt, status, reason, scheduled_at, started_at, ended_at)
      VALUES (1, 1, 'report', 10, 1, 'failed', 'manual', 0, 0, 1),
             (2, 1, 'report', 10, 2, 'failed', 'manual', 0, 2, 3),
             (3, 1, 'report', 11, 1, 'failed', 'manual', 0, 4, 5),
             (4, 1, 'report', 12, 1, 'succeeded', 'manual', 0, 6, 7);
  `);
  old.close();

  const scheduler = new Scheduler({ database: path, logger: silentLogger });
  try {
    const history = (await scheduler.executions()).reverse();
    expect(history.map((e) => [e.id, e.runId, e.status, e.final])).toEqual([
      [1, 10, 'failed', false],
      [2, 10, 'failed', true],
      [3, 11, 'failed', false],
      [4, 12, 'succeeded', true],
    ]);
    expect((await scheduler.getTask(1))?.key).toBe('report');
    // The spent-key trigger came with the upgrade.
    await scheduler.removeTask(1);
    expect(await scheduler.addTaskOnce({ key: 'report', name: 'report' })).toBeNull();
  } finally {
    await scheduler.close();
  }
});

test('a file of the release before device conditions is upgraded in place: its tasks have none, and run', async () => {
  const path = tempDbPath();
  const old = new Database(path);
  migrate(drizzle(old), { migrationsFolder: releaseWith(3), migrationsTable: MIGRATIONS_TABLE });
  old.exec(`
    INSERT INTO tasks (id, key, name, handler, args, priority, created_at, updated_at)
      VALUES (1, 'report', 'report', 'report', '"weekly"', 0, 0, 0);
    INSERT INTO runs (id, task_id, reason, state, priority, due_at, attempt, created_at)
      VALUES (5, 1, 'manual', 'waiting', 0, 0, 1, 0);
    INSERT INTO schedulers (id, host, pid, handlers, started_at, last_seen_at)
      VALUES ('old', 'edge-1', 42, '["report"]', 0, 0);
  `);
  old.close();

  const scheduler = new Scheduler({ database: path, logger: silentLogger, deviceState: () => ({}) });
  try {
    expect(await scheduler.getTask(1)).toMatchObject({ key: 'report', conditions: null, conditionLost: 'wait' });
    const ran = nextEvent(scheduler, 'execution:succeeded');
    scheduler.register('report', (args) => args);
    await scheduler.start();
    expect(await ran).toMatchObject({ runId: 5, result: 'weekly' });
    const added = await scheduler.addTask({
      name: 'held',
      handler: 'report',
      conditions: { require: ['never'] },
      triggers: [new OneTimeTrigger({ delay: 0 })],
    });
    expect(added.conditions).toEqual({ require: ['never'] });
  } finally {
    await scheduler.close();
  }
  const db = new Database(path, { readonly: true });
  const columns = (table: string) =>
    (db.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as { name: string }[]).map((c) => c.name);
  expect(columns('tasks')).toEqual(expect.arrayContaining(['conditions', 'condition_lost']));
  expect(columns('schedulers')).toContain('device');
  db.close();
});

test('a file of the release before groups and rate limits is upgraded in place: its tasks have none, and run', async () => {
  const path = tempDbPath();
  const old = new Database(path);
  // 0000–0005: the release with redrive, before flow control.
  migrate(drizzle(old), { migrationsFolder: releaseWith(6), migrationsTable: MIGRATIONS_TABLE });
  old.exec(`
    INSERT INTO tasks (id, key, name, handler, args, priority, created_at, updated_at)
      VALUES (1, 'upload', 'upload', 'upload', '"logs"', 0, 0, 0);
    INSERT INTO runs (id, task_id, reason, state, priority, due_at, attempt, created_at)
      VALUES (7, 1, 'manual', 'waiting', 0, 0, 1, 0);
    INSERT INTO executions (id, task_id, task_name, run_id, attempt, status, reason, scheduled_at, started_at, ended_at, final)
      VALUES (3, 1, 'upload', 6, 1, 'failed', 'manual', 0, 0, 1, 1);
  `);
  old.close();

  const scheduler = new Scheduler({ database: path, logger: silentLogger });
  try {
    expect(await scheduler.getTask(1)).toMatchObject({ key: 'upload', groups: [], rateLimit: null });
    expect(await scheduler.executions()).toMatchObject([{ id: 3, status: 'failed', final: true }]);
    const ran = nextEvent(scheduler, 'execution:succeeded');
    scheduler.register('upload', (args) => args);
    await scheduler.start();
    expect(await ran).toMatchObject({ runId: 7, result: 'logs' });
    await scheduler.defineGroup('modem', { maxRunning: 1, rateLimit: { max: 5, per: 60_000 } });
    const grouped = await scheduler.addTask({
      key: 'upload',
      name: 'upload',
      groups: ['modem'],
      rateLimit: { max: 1, per: 1000 },
    });
    expect(grouped).toMatchObject({ id: 1, groups: ['modem'], rateLimit: { max: 1, per: 1000 } });
    const again = nextEvent(scheduler, 'execution:succeeded');
    await scheduler.runNow(1);
    expect(await again).toMatchObject({ taskId: 1 });
  } finally {
    await scheduler.close();
  }
  const db = new Database(path, { readonly: true });
  const columns = (table: string) =>
    (db.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as { name: string }[]).map((c) => c.name);
  expect(columns('tasks')).toEqual(expect.arrayContaining(['groups', 'rate_max', 'rate_per_ms']));
  expect(db.prepare('SELECT limiter FROM rate_starts ORDER BY limiter').pluck().all()).toEqual([
    'group:modem',
    'task:1',
  ]);
  db.close();
});
