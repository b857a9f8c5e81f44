import pg from 'pg';
import { afterEach, expect, test, vi } from 'vitest';
import { OneTimeTrigger, Scheduler } from '../../src/index.js';
import { AgreedClock } from '../../src/store/postgres/agreed-clock.js';
import { PgStore } from '../../src/store/postgres/store.js';
import { nextEvent } from '../../src/testing.js';
import { silentLogger, testDatabase } from '../helpers/setup.js';

// On PostgreSQL, time comes from one place: the server's clock, carried forward on
// each node's monotonic clock. A node whose wall clock is an hour off still fires
// on time, neither early nor twice.

const HOUR = 3_600_000;

afterEach(() => vi.restoreAllMocks());

async function serverNow(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ now: number }>(
      'SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now',
    );
    return rows[0]!.now;
  } finally {
    await client.end();
  }
}

test('the agreed clock keeps the reading with the shortest round trip and runs on the monotonic clock', () => {
  const clock = new AgreedClock();
  const mono = performance.now();
  clock.sample({ serverNow: 1_000_000, monotonic: mono, roundTrip: 2 });
  clock.sample({ serverNow: 5_000_000, monotonic: mono, roundTrip: 40 }); // a slow, less trustworthy reading
  const now = clock.now();
  expect(now - 1_000_000).toBeGreaterThanOrEqual(0);
  expect(now - 1_000_000).toBeLessThan(1_000);
  vi.spyOn(Date, 'now').mockReturnValue(Date.now() - HOUR); // the wall clock jumps back: no effect
  expect(Math.abs(clock.now() - now)).toBeLessThan(1_000);
});

test('a store on a node whose wall clock is an hour fast agrees with the server', async () => {
  const database = testDatabase();
  const realNow = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() + HOUR);
  const store = new PgStore(database);
  try {
    await store.opened();
    const server = await serverNow(database);
    expect(Math.abs(store.agreedClock.now() - server)).toBeLessThan(250);
    expect(Math.round(store.agreedClock.offset / 60_000)).toBe(-60);
  } finally {
    await store.close();
  }
});

test('a scheduler on a node whose wall clock is an hour slow runs a one-time task on time', async () => {
  const database = testDatabase();
  const realNow = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() - HOUR);
  const scheduler = new Scheduler({ database, logger: silentLogger });
  try {
    scheduler.register('ping', () => {});
    const task = await scheduler.addTask({ name: 'ping', triggers: [new OneTimeTrigger({ delay: 300 })] });
    const added = performance.now();
    // Due on the server's clock, not an hour ago on this node's.
    expect(Math.abs(task.triggers[0]!.nextFireAt! - 300 - (await serverNow(database)))).toBeLessThan(250);
    const done = nextEvent(scheduler, 'execution:succeeded');
    await scheduler.start();
    await done;
    const waited = performance.now() - added;
    const [execution] = await scheduler.executions({ taskId: task.id });
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(5_000);
    expect(execution!.startedAt - execution!.scheduledAt).toBeLessThan(1_000);
  } finally {
    await scheduler.close();
  }
});
