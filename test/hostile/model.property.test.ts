// Random sequences of API calls, handler outcomes, clock moves, stops and reopenings,
// with the scheduler's promises checked after every step and at the end, on the
// store of the pass (a database of its own per sequence on PostgreSQL). Tasks join
// concurrency groups and have rate limits at random: the recorded history never
// shows a group over its limit or more starts in a window than a limit allows.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { EventTrigger, OneTimeTrigger, PeriodicTrigger, type Scheduler, type Trigger } from '../../src/index.js';
import { FakeClock, settle } from '../../src/testing.js';
import { createTestDatabase } from '../helpers/pg-database.js';
import { mostAtOnce, mostInWindow } from '../helpers/limits.js';
import { onPostgres, silentLogger, tempDbPath } from '../helpers/setup.js';
import { Scheduler as SchedulerClass } from '../../src/index.js';

const MAX = 3;
type Mode = 'ok' | 'throw' | 'hang';
/** The groups a task may join, and the rate limit a task may have. */
const GROUPS = {
  solo: { maxRunning: 1 },
  pair: { maxRunning: 2, rateLimit: { max: 3, per: 1000 } },
} as const;
const TASK_RATE = { max: 1, per: 800 };

const command = fc.oneof(
  fc.record({
    t: fc.constant('add' as const),
    kind: fc.constantFrom('once', 'interval', 'event', 'none'),
    mode: fc.constantFrom<Mode>('ok', 'ok', 'throw', 'hang'),
    priority: fc.integer({ min: -2, max: 2 }),
    retries: fc.integer({ min: 0, max: 2 }),
    groups: fc.subarray(['solo', 'pair']),
    rateLimited: fc.boolean(),
  }),
  fc.record({
    t: fc.constantFrom('remove' as const, 'pause' as const, 'resume' as const, 'runNow' as const),
    i: fc.nat(20),
  }),
  fc.record({ t: fc.constant('fire' as const) }),
  fc.record({ t: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3000 }) }),
  fc.record({ t: fc.constantFrom('restart' as const, 'reopen' as const) }),
);

async function stopOn(scheduler: Scheduler, clock: FakeClock, close: boolean): Promise<void> {
  let done = false;
  const stopping = (close ? scheduler.close({ timeout: 0 }) : scheduler.stop({ timeout: 0 })).finally(
    () => (done = true),
  );
  for (let i = 0; i < 10 && !done; i++) await clock.advance(1000);
  await stopping;
}

test('invariants hold under random schedules (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
      const clock = new FakeClock();
      const pgDatabase = onPostgres ? await createTestDatabase() : null;
      const database = pgDatabase?.url ?? tempDbPath();
      let reader: Database.Database | undefined;
      let priorityBroken = false;
      const priorities = new Map<number, number>();
      const tasks: {
        id: number;
        retries: number;
        removed: boolean;
        listens: boolean;
        firings: number;
        groups: string[];
        rateLimited: boolean;
      }[] = [];
      const active = new Set<number>();
      let running = 0;
      let peak = 0;
      let overlap = false;
      let starts = 0;
      let fired = 0;

      const open = (): Scheduler => {
        const s = new SchedulerClass({ database, clock, logger: silentLogger, maxRunningTasks: MAX });
        for (const mode of ['ok', 'throw', 'hang'] as Mode[]) {
          s.register(mode, () => {
            if (mode === 'throw') throw new Error('planned failure');
            if (mode === 'hang') return new Promise(() => {});
            return 'ok';
          });
        }
        s.on('execution:started', (e) => {
          starts++;
          if (active.has(e.taskId)) overlap = true;
          active.add(e.taskId);
          peak = Math.max(peak, ++running);
          // Emitted right after the claim committed: no run left waiting may outrank the one
          // that started, unless a group or rate limit holds it. Only a synchronous read sees
          // that moment (on PostgreSQL the conformance tests of priority hold it).
          if (pgDatabase !== null) return;
          reader ??= new Database(database, { readonly: true });
          const best = reader
            .prepare(
              `SELECT max(t.priority) FROM runs r JOIN tasks t ON t.id = r.task_id
               WHERE r.state = 'waiting' AND r.due_at <= ? AND t.paused = 0
                 AND t.groups IS NULL AND t.rate_max IS NULL
                 AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.task_id = r.task_id AND x.state = 'running')`,
            )
            .pluck()
            .get(clock.now()) as number | null;
          if (best !== null && best > (priorities.get(e.taskId) ?? 0)) priorityBroken = true;
        });
        s.on('execution:finished', (e) => {
          active.delete(e.taskId);
          running--;
        });
        return s;
      };
      let scheduler = open();
      for (const [name, options] of Object.entries(GROUPS)) await scheduler.defineGroup(name, options);
      await scheduler.start();

      for (const c of commands) {
        const target = tasks.length > 0 && 'i' in c ? tasks[c.i % tasks.length]! : undefined;
        switch (c.t) {
          case 'add': {
            const triggers: Trigger[] =
              c.kind === 'once'
                ? [new OneTimeTrigger({ delay: 500 })]
                : c.kind === 'interval'
                  ? [new PeriodicTrigger({ interval: 700 })]
                  : c.kind === 'event'
                    ? [new EventTrigger({ event: 'ping' })]
                    : [];
            const task = await scheduler.addTask({
              name: c.mode,
              priority: c.priority,
              triggers,
              retryPolicy: { maxRetries: c.retries, delay: 200 },
              ...(c.mode === 'hang' ? { timeout: 300 } : {}),
              groups: c.groups,
              ...(c.rateLimited ? { rateLimit: TASK_RATE } : {}),
            });
            priorities.set(task.id, c.priority);
            tasks.push({
              id: task.id,
              retries: c.retries,
              removed: false,
              listens: c.kind === 'event',
              firings: 0,
              groups: c.groups,
              rateLimited: c.rateLimited,
            });
            break;
          }
          case 'remove':
            if (target && (await scheduler.removeTask(target.id))) target.removed = true;
            break;
          case 'pause':
          case 'resume':
          case 'runNow':
            if (target && !target.removed && (await scheduler.getTask(target.id))) {
              if (c.t === 'pause') await scheduler.pauseTask(target.id);
              else if (c.t === 'resume') await scheduler.resumeTask(target.id);
              else await scheduler.runNow(target.id);
            }
            break;
          case 'fire':
            for (const task of tasks) if (task.listens && !task.removed) task.firings++;
            fired += await scheduler.fireEvent('ping', fired);
            break;
          case 'advance':
            await clock.advance(c.ms);
            break;
          case 'restart':
            await stopOn(scheduler, clock, false);
            expect(scheduler.runningTasksCount()).toBe(0);
            await scheduler.start();
            break;
          case 'reopen':
            await stopOn(scheduler, clock, true);
            scheduler = open();
            await scheduler.start();
            break;
        }
        await settle();
        expect(scheduler.runningTasksCount()).toBeLessThanOrEqual(MAX);
      }

      // Drain: release every task and let time pass until nothing waits.
      for (const task of tasks)
        if (!task.removed && (await scheduler.getTask(task.id))) await scheduler.resumeTask(task.id);
      for (let i = 0; i < 120; i++) await clock.advance(500);
      await stopOn(scheduler, clock, false);

      const rows = await scheduler.executions({ limit: 10_000 });
      reader?.close();
      expect(peak).toBeLessThanOrEqual(MAX);
      expect(overlap).toBe(false);
      expect(priorityBroken).toBe(false);
      expect(rows.filter((r) => r.status === 'running')).toEqual([]);
      expect(rows).toHaveLength(starts);
      for (const row of rows) {
        const task = tasks.find((t) => t.id === row.taskId)!;
        expect(row.attempt).toBeLessThanOrEqual(task.retries + 1);
      }
      // No group over its limit at any moment, no window with more starts than a limit allows.
      for (const [name, group] of Object.entries(GROUPS)) {
        const members = rows.filter((r) => tasks.find((t) => t.id === r.taskId)!.groups.includes(name));
        expect(mostAtOnce(members)).toBeLessThanOrEqual(group.maxRunning);
        if ('rateLimit' in group) {
          expect(mostInWindow(members, group.rateLimit.per)).toBeLessThanOrEqual(group.rateLimit.max);
        }
      }
      for (const task of tasks.filter((t) => t.rateLimited)) {
        const own = rows.filter((r) => r.taskId === task.id);
        expect(mostInWindow(own, TASK_RATE.per)).toBeLessThanOrEqual(TASK_RATE.max);
      }
      // Every firing reached every listener that was never removed, exactly once.
      for (const task of tasks.filter((t) => t.listens && !t.removed)) {
        const deliveries = new Set(
          rows.filter((r) => r.taskId === task.id && r.reason === 'event').map((r) => r.runId),
        );
        expect(deliveries.size).toBe(task.firings);
      }
      await scheduler.close();
      await pgDatabase?.drop();
    }),
    { numRuns: Number(process.env.BT_PROPERTY_RUNS ?? 30) },
  );
});
