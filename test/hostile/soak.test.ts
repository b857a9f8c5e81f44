// Thousands of tasks of every trigger kind with mixed outcomes at maxRunningTasks 16,
// on the fake clock; then the promises are checked from the executions table itself.
// BT_SOAK_TASKS sets the size (default 2,000; try 20,000).
import Database from 'better-sqlite3';
import { expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger, PeriodicTrigger, type TaskDefinition } from '../../src/index.js';
import { expectAttemptChains, type AttemptRow } from '../helpers/invariants.js';
import { closeOnFakeClock, createHarness } from '../helpers/setup.js';

const TASKS = Number(process.env.BT_SOAK_TASKS ?? 2_000);

interface Row extends AttemptRow {
  id: number;
  task_id: number;
  reason: string;
}

test(`soak: ${TASKS} tasks of every kind, mixed outcomes, 16 at once`, { timeout: 120_000 }, async () => {
  const { scheduler, clock, database } = createHarness({ maxRunningTasks: 16 });
  let running = 0;
  let peak = 0;
  const active = new Set<number>();
  let overlap = false;
  scheduler.on('execution:started', (e) => {
    if (active.has(e.taskId)) overlap = true;
    active.add(e.taskId);
    peak = Math.max(peak, ++running);
  });
  scheduler.on('execution:finished', (e) => {
    active.delete(e.taskId);
    running--;
  });
  scheduler.register('ok', () => 'ok');
  scheduler.register('flaky', (_args, ctx) => {
    if (ctx.attempt < 2) throw new Error('flaky');
  });
  scheduler.register('broken', () => Promise.reject(new Error('always')));
  scheduler.register('slow', (_args, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)));

  const kinds = ['once', 'interval', 'cron', 'event'] as const;
  const handlers = ['ok', 'flaky', 'broken', 'slow'] as const;
  const definitions: TaskDefinition[] = [];
  const retries = new Map<string, number>();
  for (let i = 0; i < TASKS; i++) {
    const kind = kinds[i % kinds.length]!;
    const handler = handlers[Math.floor(i / kinds.length) % handlers.length]!;
    const trigger =
      kind === 'once'
        ? new OneTimeTrigger({ delay: (i * 37) % 60_000 })
        : kind === 'interval'
          ? new PeriodicTrigger({ interval: 5_000 + (i % 7) * 1_000 })
          : kind === 'cron'
            ? new PeriodicTrigger({ cron: `${i % 60} * * * * *` })
            : new EventTrigger({ event: `e${i % 5}` });
    definitions.push({
      name: `${kind}-${handler}-${i}`,
      handler,
      priority: i % 3,
      triggers: [trigger],
      retryPolicy: { maxRetries: 2, delay: 500 },
      ...(handler === 'slow' ? { timeout: 800 } : {}),
    });
    retries.set(`${kind}-${handler}-${i}`, 2);
  }
  const tasks = await scheduler.addTasks(definitions);
  await scheduler.start();
  let fired = 0;
  for (let second = 0; second < 90; second++) {
    if (second % 10 === 0) fired += await scheduler.fireEvent(`e${second % 5}`, { second });
    await clock.advance(1_000);
  }
  // Drain: the periodic tasks go (a running one is cancelled), the rest must finish.
  for (const task of tasks)
    if (task.triggers[0]?.kind !== 'once' && task.triggers[0]?.kind !== 'event') await scheduler.removeTask(task.id);
  // Until no attempt runs and no one-time task has a run left (one that failed for good stays, without runs).
  const reader = new Database(database, { readonly: true });
  const onceRunsLeft = reader.prepare(
    "SELECT 1 FROM runs r JOIN triggers g ON g.task_id = r.task_id WHERE g.kind = 'once' LIMIT 1",
  );
  const pending = async () =>
    (await scheduler.executions({ limit: 1, status: 'running' })).length > 0 || onceRunsLeft.get() !== undefined;
  for (let i = 0; i < 600 && (await pending()); i++) await clock.advance(1_000);
  for (let i = 0; i < 30; i++) await clock.advance(1_000);
  await closeOnFakeClock(scheduler, clock);
  reader.close();

  const db = new Database(database, { readonly: true });
  const rows = db
    .prepare('SELECT id, task_id, run_id, attempt, status, reason FROM executions ORDER BY id')
    .all() as Row[];
  const onceLeft = db.prepare("SELECT task_id FROM triggers WHERE kind = 'once' ORDER BY task_id").pluck().all();
  db.close();

  expect(peak).toBeLessThanOrEqual(16);
  expect(overlap).toBe(false);
  expect(rows.filter((r) => r.status === 'running')).toEqual([]);
  // Attempts of a run follow a failure (next number) or an interruption (same number), within the policy.
  expectAttemptChains(rows, 3);
  // Every one-time task ran to an end: a success, and it was removed; or a failure
  // after its retries, and it stays, a dead letter to redrive.
  const deadLetters: number[] = [];
  for (const task of tasks.filter((t) => t.triggers[0]?.kind === 'once')) {
    const own = rows.filter((r) => r.task_id === task.id);
    const last = own.at(-1);
    expect(
      last && (last.status === 'succeeded' || (last.status === 'failed' && last.attempt === 3)),
      `task ${task.id}`,
    ).toBe(true);
    expect(own.filter((r) => r.status === 'succeeded').length).toBeLessThanOrEqual(1);
    if (last?.status === 'failed') deadLetters.push(task.id);
  }
  expect(deadLetters.length).toBeGreaterThan(0);
  expect(onceLeft).toEqual(deadLetters);
  // Every event firing gave each listener exactly one run.
  const eventRuns = new Set(rows.filter((r) => r.reason === 'event').map((r) => r.run_id));
  expect(eventRuns.size).toBe(fired);
  expect(rows.length).toBeGreaterThan(TASKS);
});
