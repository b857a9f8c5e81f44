// Helpers for the acceptance suite: only the package's public entry points, as a user has them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach } from 'vitest';
import { Scheduler } from 'background-tasks';
import { FakeClock } from 'background-tasks/testing';

const toClose: [Scheduler, FakeClock][] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const [scheduler, clock] of toClose.splice(0)) {
    // Handlers that ignore their signal get the abort grace period, which runs on the fake clock.
    let closed = false;
    const closing = scheduler.close({ timeout: 0 }).finally(() => (closed = true));
    for (let i = 0; i < 100 && !closed; i++) await clock.advance(1_000);
    await closing;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function dbFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bt-acceptance-'));
  dirs.push(dir);
  return join(dir, 'tasks.db');
}

export function open(database: string, clock: FakeClock, maxRunningTasks = 4): Scheduler {
  const scheduler = new Scheduler({ database, maxRunningTasks, clock, logger: pino({ level: 'silent' }) });
  toClose.push([scheduler, clock]);
  return scheduler;
}

export function fresh(maxRunningTasks = 4): { scheduler: Scheduler; clock: FakeClock; database: string } {
  const clock = new FakeClock(Date.UTC(2026, 5, 1));
  const database = dbFile();
  return { scheduler: open(database, clock, maxRunningTasks), clock, database };
}

/** Lets the scheduler work (without moving the clock) until `check` holds. */
export async function until(check: () => boolean | Promise<boolean>, what = 'condition'): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await check()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}
