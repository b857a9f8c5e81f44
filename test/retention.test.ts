import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { OneTimeTrigger, PeriodicTrigger, Scheduler } from '../src/index.js';
import { LEASE_MS } from '../src/runtime/loop.js';
import { nextEvents } from '../src/testing.js';
import { createHarness, tempDbPath, onPostgres } from './helpers/setup.js';

const HOUR = 3600_000;

function fileSize(database: string): number {
  const size = (path: string) => {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  };
  return size(database) + size(`${database}-wal`);
}

test('keepLast keeps the newest executions of each task', async () => {
  const { scheduler, clock } = createHarness({ history: { keepLast: 3 } });
  scheduler.register('t', () => 'ok');
  const a = await scheduler.addTask({ name: 't', triggers: [new PeriodicTrigger({ interval: 1000 })] });
  const b = await scheduler.addTask({ name: 't', triggers: [new PeriodicTrigger({ interval: 1000 })] });
  await scheduler.start();
  const twenty = nextEvents(scheduler, 'execution:succeeded', 20);
  for (let i = 0; i < 10; i++) await clock.advance(1000);
  await twenty;
  await scheduler.pauseTask(a.id);
  await scheduler.pauseTask(b.id);
  await clock.advance(LEASE_MS / 3); // the next maintenance pass
  for (const task of [a, b]) {
    const rows = await scheduler.executions({ taskId: task.id });
    expect(rows).toHaveLength(3);
    expect(rows[0]!.startedAt).toBeGreaterThan(rows[2]!.startedAt);
  }
});

test('maxAge deletes executions that started longer ago, and the history survives otherwise', async () => {
  const { scheduler, clock } = createHarness({ history: { maxAge: HOUR } });
  scheduler.register('t', () => 'ok');
  const task = await scheduler.addTask({ name: 't', triggers: [new PeriodicTrigger({ interval: 20 * 60_000 })] });
  await scheduler.start();
  for (let i = 0; i < 18; i++) await clock.advance(10 * 60_000); // three hours: nine runs
  const rows = await scheduler.executions({ taskId: task.id });
  expect(rows.length).toBeGreaterThanOrEqual(3);
  expect(rows.length).toBeLessThanOrEqual(4);
  expect(rows.every((r) => r.startedAt >= clock.now() - HOUR - LEASE_MS)).toBe(true);
});

test('the history option is checked', () => {
  expect(() => new Scheduler({ database: tempDbPath(), history: {} })).toThrow(
    expect.objectContaining({ field: 'history' }),
  );
  expect(() => new Scheduler({ database: tempDbPath(), history: { keepLast: 0 } })).toThrow(
    expect.objectContaining({ field: 'history.keepLast' }),
  );
});

// The file's size is SQLite's; PostgreSQL's autovacuum reuses dead rows' space by itself.
test.skipIf(onPostgres)(
  'with retention on, 100,000 executions later the file has stopped growing',
  { timeout: 120_000 },
  async () => {
    const { scheduler, clock, database } = createHarness({ maxRunningTasks: 64, history: { maxAge: HOUR } });
    scheduler.register('noop', () => {});
    await scheduler.start();
    const sizes: number[] = [];
    for (let round = 0; round < 10; round++) {
      const done = nextEvents(scheduler, 'execution:finished', 10_000);
      await scheduler.addTasks(
        Array.from({ length: 10_000 }, () => ({ name: 'noop', triggers: [new OneTimeTrigger({ delay: 0 })] })),
      );
      await done;
      for (let i = 0; i < 12 * 6; i++) await clock.advance((10 * 60_000) / 12); // an hour, in maintenance passes
      sizes.push(fileSize(database));
    }
    const db = new Database(database, { readonly: true });
    const kept = db.prepare('SELECT count(*) FROM executions').pluck().get() as number;
    db.close();
    expect(kept).toBeLessThanOrEqual(10_000); // only the last hour's
    // Growth stops: the last rounds are no bigger than the third.
    const settled = sizes[2]!;
    expect(Math.max(...sizes.slice(3))).toBeLessThanOrEqual(settled * 1.1);
    console.log(
      `retention: file size after each 10,000 executions (KiB): ${sizes.map((s) => Math.round(s / 1024)).join(', ')}`,
    );
  },
);
