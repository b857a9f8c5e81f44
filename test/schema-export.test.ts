import { drizzle } from 'drizzle-orm/better-sqlite3';
import { desc, eq } from 'drizzle-orm';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { OneTimeTrigger } from '../src/index.js';
import { executions, pg, tasks } from '../src/schema.js';
import { nextEvent } from '../src/testing.js';
import { createHarness } from './helpers/setup.js';

test('background-tasks/schema gives typed drizzle queries over the history', async () => {
  const { scheduler, database, clock } = createHarness();
  scheduler.register('flaky', () => {
    throw new Error('no network');
  });
  const task = await scheduler.addTask({ name: 'flaky', triggers: [new OneTimeTrigger({ delay: 0 })] });
  const failed = nextEvent(scheduler, 'execution:failed');
  await scheduler.start();
  await clock.advance(0);
  await failed;

  const db = drizzle(new Database(database, { readonly: true }));
  const rows = db
    .select({ id: executions.id, status: executions.status, error: executions.error, taskName: executions.taskName })
    .from(executions)
    .where(eq(executions.status, 'failed'))
    .orderBy(desc(executions.id))
    .all();
  // Typed: status is the union of statuses, error a string or null.
  const status: 'running' | 'succeeded' | 'failed' | 'interrupted' | 'cancelled' | 'snoozed' = rows[0]!.status;
  expect(status).toBe('failed');
  expect(rows).toMatchObject([{ taskName: 'flaky', error: expect.stringContaining('no network') }]);
  // A one-time task that failed for good stays, to be redriven (rule 19).
  expect(db.select({ id: tasks.id, name: tasks.name }).from(tasks).all()).toEqual([{ id: task.id, name: 'flaky' }]);
  expect(task.id).toBeGreaterThan(0);
  // PostgreSQL's tables, in their own schema, for a fleet's database.
  expect(pg.executions).toBeDefined();
});
