import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { expect, test } from 'vitest';
import { Scheduler } from '../src/index.js';
import { MIGRATIONS_FOLDER, MIGRATIONS_TABLE } from '../src/store/sqlite/open.js';
import { silentLogger, tempDbPath, tempDir } from './helpers/setup.js';

// A file made by the previous release (its schema: migration 0000 alone), with
// history in it, is upgraded in place by this one: nothing lost, and the new
// columns filled in for the rows it already had.

/** The migrations folder as the previous release shipped it. */
function previousRelease(): string {
  const folder = join(tempDir(), 'migrations');
  mkdirSync(join(folder, 'meta'), { recursive: true });
  copyFileSync(join(MIGRATIONS_FOLDER, '0000_init.sql'), join(folder, '0000_init.sql'));
  const journal = {
    version: '7',
    dialect: 'sqlite',
    entries: [{ idx: 0, version: '6', when: 1795899253173, tag: '0000_init', breakpoints: true }],
  };
  writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify(journal));
  return folder;
}

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
