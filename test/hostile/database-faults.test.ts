import { spawnSync } from 'node:child_process';
import { chmodSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { DatabaseError, OneTimeTrigger, Scheduler } from '../../src/index.js';
import { LEASE_MS } from '../../src/runtime/loop.js';
import { nextEvent } from '../../src/testing.js';
import { capturingLogger, createHarness, silentLogger, tempDbPath } from '../helpers/setup.js';

test('a database locked by another connection beyond the busy timeout gives DATABASE_LOCKED; nothing committed is lost and work resumes', async () => {
  const { logger, lines } = capturingLogger();
  const { scheduler, database, clock } = createHarness({ busyTimeout: 20, logger });
  scheduler.register('job', () => 'ran');
  const before = await scheduler.addTask({ name: 'job', triggers: [new OneTimeTrigger({ delay: 0 })] });
  const holder = new Database(database);
  holder.exec('BEGIN IMMEDIATE');
  try {
    const error = await scheduler.addTask({ name: 'blocked' }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ code: 'DATABASE_LOCKED' });
    // The loop meets the lock too: it reports it, logs it, and keeps going.
    const reported = nextEvent(scheduler, 'scheduler:error');
    await scheduler.start();
    expect(await reported).toMatchObject({ code: 'DATABASE_LOCKED' });
    expect(lines.some((line) => line.level === 50)).toBe(true);
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
  }
  const ran = nextEvent(scheduler, 'execution:succeeded');
  await clock.advance(1000); // the loop retries after its back-off
  expect((await ran).taskId).toBe(before.id);
  expect(await scheduler.executions({ taskId: before.id })).toMatchObject([{ status: 'succeeded' }]);
});

test('a full database gives DATABASE_FULL; what was committed stays, and freeing space lets it carry on', async () => {
  const { scheduler } = createHarness({ maxDatabaseSize: 256 * 1024 });
  const big = 'x'.repeat(20_000);
  const added: number[] = [];
  let error: unknown;
  for (let i = 0; i < 100 && error === undefined; i++) {
    await scheduler.addTask({ name: `t${i}`, args: big }).then(
      (task) => added.push(task.id),
      (err: unknown) => (error = err),
    );
  }
  expect(error).toBeInstanceOf(DatabaseError);
  expect(error).toMatchObject({ code: 'DATABASE_FULL' });
  expect((await scheduler.listTasks()).map((t) => t.id)).toEqual(added);
  for (const id of added.slice(0, 3)) await scheduler.removeTask(id);
  await expect(scheduler.addTask({ name: 'fits again', args: big })).resolves.toMatchObject({ name: 'fits again' });
});

test('a database file deleted under a running scheduler is noticed: DATABASE_GONE, and the scheduler stops', async () => {
  const { scheduler, clock, database } = createHarness();
  let runs = 0;
  scheduler.register('job', () => void runs++);
  const task = await scheduler.addTask({ name: 'job' });
  await scheduler.start();
  unlinkSync(database);
  const gone = nextEvent(scheduler, 'scheduler:error');
  await clock.advance(LEASE_MS / 3);
  expect(await gone).toMatchObject({ code: 'DATABASE_GONE' });
  await scheduler.runNow(task.id).catch(() => {});
  await clock.advance(60_000);
  expect(runs).toBe(0);
  await expect(scheduler.start()).rejects.toMatchObject({ code: 'DATABASE_GONE' });
});

// Root writes anything, so as root the child runs without the capabilities that
// override file modes (setpriv drops them): the modes then hold for it, and it can
// still read the checkout wherever that lives (a child run as another user cannot
// enter a checkout kept in a private folder).
const DROP_OVERRIDES = [
  '--bounding-set',
  '-dac_override,-dac_read_search',
  '--inh-caps',
  '-dac_override,-dac_read_search',
];

function asUnprivileged(): { command: string; prefix: string[] } | string {
  if (process.getuid?.() !== 0) return { command: process.execPath, prefix: [] };
  const probe = spawnSync('setpriv', [...DROP_OVERRIDES, '--', process.execPath, '-e', ''], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    return `running as root, and setpriv cannot drop CAP_DAC_OVERRIDE here (${probe.error?.message ?? probe.stderr.trim()}), so no file is read-only to the child`;
  }
  return { command: 'setpriv', prefix: [...DROP_OVERRIDES, '--', process.execPath] };
}

test('a database this process may not write is refused with a typed error', (ctx) => {
  const runner = asUnprivileged();
  if (typeof runner === 'string') return ctx.skip(runner);
  const database = tempDbPath();
  new Database(database).close();
  new Scheduler({ database, logger: silentLogger }).close();
  chmodSync(database, 0o444);
  chmodSync(dirname(database), 0o555);
  try {
    const child = fileURLToPath(new URL('../fixtures/readonly-child.mjs', import.meta.url));
    const result = spawnSync(runner.command, [...runner.prefix, child, database], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    const outcome = JSON.parse(result.stdout.trim()) as { name: string; code: string };
    expect(outcome.name).toBe('DatabaseError');
    expect(['DATABASE_READ_ONLY', 'DATABASE_ERROR']).toContain(outcome.code);
  } finally {
    chmodSync(dirname(database), 0o755);
    chmodSync(database, 0o644);
  }
});

test('a one-time task added before a fault still runs after it', async () => {
  const { scheduler, clock } = createHarness({ maxDatabaseSize: 256 * 1024 });
  scheduler.register('job', () => 'ok');
  const task = await scheduler.addTask({ name: 'job', triggers: [new OneTimeTrigger({ delay: 1000 })] });
  await scheduler.addTask({ name: 'huge', args: 'x'.repeat(400_000) }).catch(() => {});
  await scheduler.start();
  const done = nextEvent(scheduler, 'execution:succeeded');
  await clock.advance(1000);
  expect((await done).taskId).toBe(task.id);
});
