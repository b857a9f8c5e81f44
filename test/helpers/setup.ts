import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach } from 'vitest';
import { Scheduler, type SchedulerOptions } from '../../src/index.js';
import { FakeClock } from '../../src/testing.js';

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

export const silentLogger = pino({ level: 'silent' });

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
  const database = options.database ?? tempDbPath();
  const open = (extra: Partial<SchedulerOptions> = {}): Scheduler => {
    const scheduler = new Scheduler({ database, clock, logger: silentLogger, maxRunningTasks: 4, ...options, ...extra });
    cleanups.push(() => scheduler.close({ timeout: 0 }));
    return scheduler;
  };
  return { scheduler: open(), clock, database, reopen: open };
}
