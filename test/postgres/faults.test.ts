import pg from 'pg';
import { expect, test } from 'vitest';
import { DatabaseError, EventTrigger, PeriodicTrigger, Scheduler } from '../../src/index.js';
import { nextEvent, nextEvents } from '../../src/testing.js';
import { capturingLogger, silentLogger, testDatabase } from '../helpers/setup.js';

// PostgreSQL going away: a server that cannot be reached, and every connection
// cut while a scheduler runs (as a server restart or a failover does).

test('an unreachable server gives typed errors, loses nothing, and is tried again on the next call', async () => {
  const scheduler = new Scheduler({ database: 'postgres://postgres@127.0.0.1:1/nowhere', logger: silentLogger });
  const failure = await scheduler.addTask({ name: 'x' }).catch((err: unknown) => err);
  expect(failure).toBeInstanceOf(DatabaseError);
  expect(failure).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
  await expect(scheduler.start()).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
  await expect(scheduler.listTasks()).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
  await scheduler.close();
});

test('every connection cut while running: the scheduler reconnects, and hears other nodes again', async () => {
  const database = testDatabase();
  const { logger } = capturingLogger();
  const scheduler = new Scheduler({ database, logger });
  const client = new Scheduler({ database, logger: silentLogger });
  const admin = new pg.Client({ connectionString: database });
  await admin.connect();
  try {
    scheduler.register('tick', () => {});
    scheduler.register('ping', () => {});
    const tick = await scheduler.addTask({ name: 'tick', triggers: [new PeriodicTrigger({ interval: 200 })] });
    const ping = await client.addTask({ name: 'ping', triggers: [new EventTrigger({ event: 'ping' })] });
    await scheduler.start();
    await nextEvent(scheduler, 'execution:succeeded');

    const { rows } = await admin.query<{ cut: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS cut FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    expect(rows[0]!.cut).toBeGreaterThan(0);

    // Periodic runs go on through new connections.
    await nextEvents(scheduler, 'execution:succeeded', 3, (e) => e.taskId !== ping.id);
    // And the listening connection is back: with nothing due (the loop sleeps up to
    // 10 s), an event fired elsewhere reaches it at once.
    await scheduler.removeTask(tick.id);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const heard = nextEvent(scheduler, 'execution:succeeded', (e) => e.taskId === ping.id);
    const fired = performance.now();
    await client.fireEvent('ping');
    await heard;
    expect(performance.now() - fired).toBeLessThan(2_000);
  } finally {
    await admin.end();
    await client.close();
    await scheduler.close();
  }
});
