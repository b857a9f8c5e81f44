import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterEach, beforeEach } from 'vitest';
import { Scheduler, type SchedulerOptions } from '../../src/index.js';
import { FakeClock } from '../../src/testing.js';
import { createTestDatabase } from './pg-database.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A fresh folder for database files, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'background-tasks-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function tempDbPath(): string {
  return join(tempDir(), 'tasks.db');
}

/** Whether this run is the conformance suite's PostgreSQL pass. */
export const onPostgres = process.env.BT_STORE === 'postgres';

let testDatabaseUrl: string | undefined;

// On PostgreSQL, each test gets a database of its own, dropped after it (after
// its schedulers close: cleanups run newest first).
beforeEach(async () => {
  if (!onPostgres) return;
  const { url, drop } = await createTestDatabase();
  testDatabaseUrl = url;
  cleanups.push(async () => {
    testDatabaseUrl = undefined;
    await drop();
  });
});

/** The database of this test: a fresh SQLite file, or on PostgreSQL the test's own database. */
export function testDatabase(): string {
  return testDatabaseUrl ?? tempDbPath();
}

export const silentLogger = pino({ level: 'silent' });

/** Closes a scheduler whose handlers may ignore their signal: the abort grace runs on the fake clock. */
export async function closeOnFakeClock(scheduler: Scheduler, clock: FakeClock): Promise<void> {
  let closed = false;
  const closing = scheduler.close({ timeout: 0 }).finally(() => (closed = true));
  for (let i = 0; i < 100 && !closed; i++) await clock.advance(1000);
  await closing;
}

export interface Harness {
  scheduler: Scheduler;
  clock: FakeClock;
  database: string;
  /** Opens another scheduler on the same file and clock, as a restart would. */
  reopen(options?: Partial<SchedulerOptions>): Scheduler;
}

/** A scheduler on a temporary file with a fake clock, closed after the test. */
export function createHarness(options: Partial<SchedulerOptions> = {}): Harness {
  const clock = options.clock instanceof FakeClock ? options.clock : new FakeClock();
  const database = (options.database as string | undefined) ?? testDatabase();
  const open = (extra: Partial<SchedulerOptions> = {}): Scheduler => {
    const scheduler = new Scheduler({
      database,
      clock,
      logger: silentLogger,
      maxRunningTasks: 4,
      ...options,
      ...extra,
    });
    cleanups.push(() => closeOnFakeClock(scheduler, clock));
    return scheduler;
  };
  return { scheduler: open(), clock, database, reopen: open };
}

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A pino logger at debug level whose lines are kept as parsed objects. */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}
