import type Database from 'better-sqlite3';
import { and, asc, count, desc, eq, inArray, sql } from 'drizzle-orm';
import { coerceError, DatabaseError, toDatabaseError } from '../../errors.js';
import type { Execution, ExecutionFilter, RunReason } from '../../execution.js';
import { parseJson } from '../../json.js';
import type { NewTaskWithSchedule, Task } from '../../task.js';
import type { FirePlan, TriggerState } from '../../triggers/schedule.js';
import type { ClaimedRun, ClaimParams, CompleteRunParams, FireResult, RunningRun, Store } from '../store.js';
import { openSqlite, type OpenOptions, type SqliteDb } from './open.js';
import { retryPolicyOf, specKey, specOf, toExecution, toTask, triggerState, type RetryColumns } from './rows.js';
import { executions, runs, tasks, triggers } from './schema.js';

/** Tries of a write transaction that finds the database locked beyond the busy timeout. */
const BUSY_ATTEMPTS = 3;
const BUSY_BACKOFF_MS = 100;

function isLocked(error: unknown): boolean {
  return error instanceof DatabaseError && error.code === 'DATABASE_LOCKED';
}

type Tx = Parameters<Parameters<SqliteDb['transaction']>[0]>[0];

/** The store on one SQLite file. better-sqlite3 is synchronous; each method is one transaction. */
export class SqliteStore implements Store {
  readonly #sqlite: Database.Database;
  readonly #db: SqliteDb;

  readonly #anyTriggerDue: Database.Statement<[number]>;
  readonly #anyRunReady: Database.Statement<[number]>;
  readonly #running: Database.Statement<[], RunningRow>;
  readonly #runningTaskIds: Database.Statement<[], number>;
  readonly #readyInOrder: Database.Statement<[number], ReadyRow>;
  readonly #latestRecorded: Database.Statement<
    [],
    { execution: number | null; run: number | null; task: number | null }
  >;
  readonly #nextWake: Database.Statement<[number], { run: number | null; trigger: number | null }>;

  constructor(filename: string, options: OpenOptions = {}) {
    const { sqlite, db } = openSqlite(filename, options);
    this.#sqlite = sqlite;
    this.#db = db;
    this.#anyTriggerDue = sqlite.prepare('SELECT 1 FROM triggers WHERE next_fire_at <= ? LIMIT 1');
    this.#anyRunReady = sqlite.prepare("SELECT 1 FROM runs WHERE state = 'waiting' AND due_at <= ? LIMIT 1");
    // Statements run on every wake are prepared once; the rest go through drizzle's builder.
    this.#running = sqlite.prepare(`
      SELECT r.id AS runId, r.execution_id AS executionId, r.attempt, r.interruptions, r.owner,
             r.owner_host AS ownerHost, r.owner_pid AS ownerPid, r.lease_expires_at AS leaseExpiresAt,
             t.max_retries AS maxRetries, t.retry_delay_ms AS retryDelayMs,
             t.retry_backoff AS retryBackoff, t.retry_max_delay_ms AS retryMaxDelayMs
      FROM runs r JOIN tasks t ON t.id = r.task_id WHERE r.state = 'running'`);
    this.#runningTaskIds = sqlite.prepare<[], number>("SELECT task_id FROM runs WHERE state = 'running'").pluck();
    this.#readyInOrder = sqlite.prepare(`
      SELECT r.id AS runId, r.task_id AS taskId, r.attempt, r.interruptions, r.reason,
             r.event_name AS eventName, r.event_payload AS eventPayload, r.due_at AS dueAt,
             t.name, t.handler, t.paused, t.args AS argsJson, t.timeout_ms AS timeoutMs,
             t.max_retries AS maxRetries, t.retry_delay_ms AS retryDelayMs,
             t.retry_backoff AS retryBackoff, t.retry_max_delay_ms AS retryMaxDelayMs
      FROM runs r INDEXED BY runs_claim_order JOIN tasks t ON t.id = r.task_id
      WHERE r.state = 'waiting' AND r.due_at <= ?
      ORDER BY r.priority DESC, r.due_at, r.task_id, r.id`);
    // The newest row of each table, by primary key: no scan.
    this.#latestRecorded = sqlite.prepare(`
      SELECT (SELECT started_at FROM executions ORDER BY id DESC LIMIT 1) AS execution,
             (SELECT created_at FROM runs ORDER BY id DESC LIMIT 1) AS run,
             (SELECT max(created_at, updated_at) FROM tasks ORDER BY id DESC LIMIT 1) AS task`);
    this.#nextWake = sqlite.prepare(`
      SELECT (SELECT min(due_at) FROM runs WHERE state = 'waiting' AND due_at > ?) AS run,
             (SELECT min(next_fire_at) FROM triggers WHERE next_fire_at IS NOT NULL) AS "trigger"`);
  }

  /**
   * Runs `fn` in a write transaction taken at BEGIN (BEGIN IMMEDIATE), so readers
   * never have to upgrade their lock. SQLite's busy timeout waits for another
   * process's lock; if that runs out, the transaction is retried a few times
   * before the caller gets DATABASE_LOCKED.
   */
  async #write<T>(fn: (tx: Tx) => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.#db.transaction(fn, { behavior: 'immediate' });
      } catch (err) {
        const error = toDatabaseError(err);
        if (!isLocked(error) || attempt >= BUSY_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, BUSY_BACKOFF_MS * attempt * (0.5 + Math.random())));
      }
    }
  }

  #read<T>(fn: (db: SqliteDb) => T): Promise<T> {
    try {
      return Promise.resolve(fn(this.#db));
    } catch (err) {
      return Promise.reject(toDatabaseError(err));
    }
  }

  addTask(task: NewTaskWithSchedule, now: number): Promise<{ task: Task; created: boolean }> {
    return this.#write((tx) => {
      const columns = {
        name: task.name,
        handler: task.handler,
        description: task.description,
        args: task.argsJson,
        priority: task.priority,
        timeoutMs: task.timeoutMs,
        maxRetries: task.retryPolicy?.maxRetries ?? null,
        retryDelayMs: task.retryPolicy?.delay ?? null,
        retryBackoff: task.retryPolicy?.backoff ?? null,
        retryMaxDelayMs: task.retryPolicy?.maxDelay ?? null,
        updatedAt: now,
      };
      const existing = task.key === null ? undefined : tx.select().from(tasks).where(eq(tasks.key, task.key)).get();
      if (existing) {
        tx.update(tasks).set(columns).where(eq(tasks.id, existing.id)).run();
        tx.update(runs).set({ priority: task.priority }).where(eq(runs.taskId, existing.id)).run();
        syncTriggers(tx, existing.id, task.triggers);
        return { task: readTask(tx, existing.id)!, created: false };
      }
      const { id } = tx
        .insert(tasks)
        .values({ ...columns, key: task.key, paused: task.paused, createdAt: now })
        .returning({ id: tasks.id })
        .get();
      for (const state of task.triggers) insertTrigger(tx, id, state);
      return { task: readTask(tx, id)!, created: true };
    });
  }

  getTask(id: number): Promise<Task | undefined> {
    return this.#read((db) => readTask(db, id));
  }

  listTasks({ limit, afterId }: { limit: number; afterId: number }): Promise<Task[]> {
    return this.#read((db) => {
      const rows = db
        .select()
        .from(tasks)
        .where(sql`${tasks.id} > ${afterId}`)
        .orderBy(asc(tasks.id))
        .limit(limit)
        .all();
      if (rows.length === 0) return [];
      const triggerRows = db
        .select()
        .from(triggers)
        .where(
          inArray(
            triggers.taskId,
            rows.map((row) => row.id),
          ),
        )
        .orderBy(asc(triggers.id))
        .all();
      return rows.map((row) =>
        toTask(
          row,
          triggerRows.filter((t) => t.taskId === row.id),
        ),
      );
    });
  }

  removeTask(id: number, now: number): Promise<boolean> {
    return this.#write((tx) => {
      tx.update(executions)
        .set({
          status: 'cancelled',
          endedAt: now,
          durationMs: sql`${now} - ${executions.startedAt}`,
          error: 'task removed',
        })
        .where(
          and(
            eq(executions.status, 'running'),
            sql`${executions.id} IN (SELECT execution_id FROM runs WHERE task_id = ${id} AND state = 'running')`,
          ),
        )
        .run();
      return tx.delete(tasks).where(eq(tasks.id, id)).run().changes > 0;
    });
  }

  setPaused(id: number, paused: boolean, now: number): Promise<boolean> {
    return this.#write(
      (tx) => tx.update(tasks).set({ paused, updatedAt: now }).where(eq(tasks.id, id)).run().changes > 0,
    );
  }

  enqueueRun(taskId: number, now: number): Promise<boolean> {
    return this.#write((tx) => {
      const task = tx.select({ priority: tasks.priority }).from(tasks).where(eq(tasks.id, taskId)).get();
      if (!task) return false;
      tx.insert(runs)
        .values({ taskId, reason: 'manual', state: 'waiting', priority: task.priority, dueAt: now, createdAt: now })
        .run();
      return true;
    });
  }

  fireEvent(name: string, payloadJson: string | null, now: number): Promise<number> {
    return this.#write((tx) => {
      // One run per listening task, even if it listens to the event twice.
      const inserted = tx.run(sql`
        INSERT INTO runs (task_id, trigger_id, reason, event_name, event_payload, state, priority, due_at, created_at)
        SELECT g.task_id, min(g.id), 'event', ${name}, ${payloadJson}, 'waiting', t.priority, ${now}, ${now}
        FROM triggers g JOIN tasks t ON t.id = g.task_id
        WHERE g.kind = 'event' AND g.event_name = ${name}
        GROUP BY g.task_id ORDER BY g.task_id`);
      tx.update(triggers)
        .set({ fireCount: sql`${triggers.fireCount} + 1`, lastFiredAt: now })
        .where(and(eq(triggers.kind, 'event'), eq(triggers.eventName, name)))
        .run();
      return inserted.changes;
    });
  }

  fireDueTriggers(now: number, plan: (state: TriggerState) => FirePlan, limit: number): Promise<FireResult> {
    // Most wakes find nothing due: a read answers that without taking the write lock.
    if (!this.#anyTriggerDue.get(now)) {
      return Promise.resolve({ runs: 0, broken: [] });
    }
    return this.#write((tx) => {
      const due = tx
        .select({ trigger: triggers, priority: tasks.priority })
        .from(triggers)
        .innerJoin(tasks, eq(tasks.id, triggers.taskId))
        .where(sql`${triggers.nextFireAt} <= ${now}`)
        .orderBy(asc(triggers.nextFireAt))
        .limit(limit)
        .all();
      const result: FireResult = { runs: 0, broken: [] };
      for (const { trigger: row, priority } of due) {
        let firePlan: FirePlan;
        try {
          firePlan = plan(triggerState(row));
        } catch (err) {
          tx.update(triggers).set({ nextFireAt: null }).where(eq(triggers.id, row.id)).run();
          result.broken.push({ triggerId: row.id, taskId: row.taskId, error: coerceError(err) });
          continue;
        }
        // A periodic run that comes due while an earlier one waits or runs is
        // coalesced; `misfire: 'all'` lets up to maxCatchUp queue.
        const pendingLimit = row.misfire === 'all' ? (row.maxCatchUp ?? 1) : 1;
        const pending = tx.select({ n: count() }).from(runs).where(eq(runs.triggerId, row.id)).get()?.n ?? 0;
        const fires = firePlan.fires.slice(0, Math.max(0, pendingLimit - pending));
        for (const dueAt of fires) {
          tx.insert(runs)
            .values({
              taskId: row.taskId,
              triggerId: row.id,
              reason: row.kind,
              state: 'waiting',
              priority,
              dueAt,
              createdAt: now,
            })
            .run();
        }
        tx.update(triggers)
          .set({
            nextSlotAt: firePlan.nextSlotAt,
            nextFireAt: firePlan.nextFireAt,
            lastFiredAt: fires.length > 0 ? now : row.lastFiredAt,
            fireCount: row.fireCount + fires.length,
            missedCount: row.missedCount + firePlan.missed,
            coalescedCount: row.coalescedCount + firePlan.fires.length - fires.length,
          })
          .where(eq(triggers.id, row.id))
          .run();
        result.runs += fires.length;
      }
      return result;
    });
  }

  claimRuns({ now, limit, handlers, owner, leaseUntil }: ClaimParams): Promise<ClaimedRun[]> {
    if (limit <= 0 || handlers.length === 0) return Promise.resolve([]);
    if (!this.#anyRunReady.get(now)) {
      return Promise.resolve([]);
    }
    return this.#write((tx) => {
      // Ready runs in claim order, straight from the runs_claim_order index: highest
      // priority first, then the run due first, then task id. A task offers only its
      // first ready run, and none while it already runs (no overlap); the walk stops
      // as soon as enough runs are chosen.
      const running = new Set(this.#runningTaskIds.all());
      const allowed = new Set(handlers);
      const seen = new Set<number>();
      const ready: ReadyRow[] = [];
      for (const row of this.#readyInOrder.iterate(now)) {
        if (seen.has(row.taskId)) continue;
        seen.add(row.taskId);
        if (row.paused || running.has(row.taskId) || !allowed.has(row.handler)) continue;
        ready.push(row);
        if (ready.length === limit) break;
      }
      return ready.map((row): ClaimedRun => {
        const { id: executionId } = tx
          .insert(executions)
          .values({
            taskId: row.taskId,
            taskName: row.name,
            runId: row.runId,
            attempt: row.attempt,
            status: 'running',
            reason: row.reason,
            eventName: row.eventName,
            eventPayload: row.eventPayload,
            scheduledAt: row.dueAt,
            startedAt: now,
            owner: owner.id,
          })
          .returning({ id: executions.id })
          .get();
        tx.update(runs)
          .set({
            state: 'running',
            executionId,
            owner: owner.id,
            ownerHost: owner.host,
            ownerPid: owner.pid,
            leaseExpiresAt: leaseUntil,
          })
          .where(eq(runs.id, row.runId))
          .run();
        return {
          runId: row.runId,
          executionId,
          attempt: row.attempt,
          interruptions: row.interruptions,
          reason: row.reason,
          event: row.eventName === null ? null : { name: row.eventName, payload: parseJson(row.eventPayload) },
          dueAt: row.dueAt,
          startedAt: now,
          task: {
            id: row.taskId,
            name: row.name,
            handler: row.handler,
            argsJson: row.argsJson,
            timeoutMs: row.timeoutMs,
            retryPolicy: retryPolicyOf(row),
          },
        };
      });
    });
  }

  completeRun(params: CompleteRunParams): Promise<boolean> {
    const { runId, executionId, owner, next } = params;
    return this.#write((tx) => {
      // Guarded by state and owner: a run recovered from a process that was
      // presumed dead, or cancelled by removeTask, is not written over.
      const recorded = tx
        .update(executions)
        .set({
          status: params.status,
          endedAt: params.endedAt,
          durationMs: params.usage?.durationMs ?? sql`${params.endedAt} - ${executions.startedAt}`,
          error: params.error,
          result: params.resultJson,
          cpuUserUs: params.usage?.cpuUserUs ?? null,
          cpuSystemUs: params.usage?.cpuSystemUs ?? null,
          rssBytes: params.usage?.rssBytes ?? null,
        })
        .where(and(eq(executions.id, executionId), eq(executions.status, 'running'), eq(executions.owner, owner)))
        .run();
      if (recorded.changes === 0) return false;
      const mine = and(eq(runs.id, runId), eq(runs.state, 'running'), eq(runs.owner, owner));
      if (next.kind === 'again') {
        tx.update(runs)
          .set({
            state: 'waiting',
            dueAt: next.dueAt,
            attempt: next.attempt,
            interruptions: next.interruptions,
            executionId: null,
            owner: null,
            ownerHost: null,
            ownerPid: null,
            leaseExpiresAt: null,
          })
          .where(mine)
          .run();
        return true;
      }
      const taskId = tx.delete(runs).where(mine).returning({ taskId: runs.taskId }).get()?.taskId;
      if (taskId !== undefined) removeIfSpent(tx, taskId);
      return true;
    });
  }

  runningRuns(): Promise<RunningRun[]> {
    return this.#read(() =>
      this.#running.all().map((row) => ({
        runId: row.runId,
        executionId: row.executionId ?? 0,
        attempt: row.attempt,
        interruptions: row.interruptions,
        owner: { id: row.owner ?? '', host: row.ownerHost ?? '', pid: row.ownerPid ?? 0 },
        leaseExpiresAt: row.leaseExpiresAt ?? 0,
        retryPolicy: retryPolicyOf(row),
      })),
    );
  }

  renewLeases(ownerId: string, until: number): Promise<void> {
    return this.#write((tx) => {
      tx.update(runs)
        .set({ leaseExpiresAt: until })
        .where(and(eq(runs.state, 'running'), eq(runs.owner, ownerId)))
        .run();
    });
  }

  rebaseAfterClockJump(
    now: number,
    jumpMs: number,
    replan: (state: TriggerState) => TriggerState | null,
  ): Promise<number> {
    return this.#write((tx) => {
      let changed = 0;
      // Only on a detected jump back, so a pass over future triggers is affordable.
      const future = tx
        .select()
        .from(triggers)
        .where(and(sql`${triggers.nextFireAt} > ${now}`, inArray(triggers.kind, ['interval', 'cron'])))
        .all();
      for (const row of future) {
        const next = replan(triggerState(row));
        if (next === null) continue;
        tx.update(triggers)
          .set({ anchorAt: next.anchorAt, nextSlotAt: next.nextSlotAt, nextFireAt: next.nextFireAt })
          .where(eq(triggers.id, row.id))
          .run();
        changed++;
      }
      const sooner = (column: typeof runs.dueAt | typeof triggers.nextFireAt) =>
        sql`max(${now}, ${column} - ${jumpMs})`;
      changed += tx
        .update(triggers)
        .set({ nextSlotAt: sooner(triggers.nextFireAt), nextFireAt: sooner(triggers.nextFireAt) })
        .where(
          and(eq(triggers.kind, 'once'), sql`${triggers.delayMs} IS NOT NULL`, sql`${triggers.nextFireAt} > ${now}`),
        )
        .run().changes;
      changed += tx
        .update(runs)
        .set({ dueAt: sooner(runs.dueAt) })
        .where(and(eq(runs.state, 'waiting'), sql`${runs.dueAt} > ${now}`))
        .run().changes;
      return changed;
    });
  }

  latestRecordedTime(): Promise<number | null> {
    return this.#read(() => {
      const row = this.#latestRecorded.get()!;
      const times = [row.execution, row.run, row.task].filter((t): t is number => t !== null);
      return times.length === 0 ? null : Math.max(...times);
    });
  }

  nextWakeAt(now: number): Promise<number | null> {
    return this.#read(() => {
      const row = this.#nextWake.get(now)!;
      const times = [row.run, row.trigger].filter((t): t is number => t !== null);
      return times.length === 0 ? null : Math.min(...times);
    });
  }

  unservedHandlers(now: number, handlers: string[]): Promise<string[]> {
    return this.#read((db) =>
      db
        .all<{ handler: string }>(
          sql`
          SELECT DISTINCT t.handler FROM runs r JOIN tasks t ON t.id = r.task_id
          WHERE r.state = 'waiting' AND r.due_at <= ${now}
            AND t.handler NOT IN (SELECT value FROM json_each(${JSON.stringify(handlers)}))
          LIMIT 20`,
        )
        .map((row) => row.handler),
    );
  }

  executions(filter: ExecutionFilter & { limit: number }): Promise<Execution[]> {
    return this.#read((db) =>
      db
        .select()
        .from(executions)
        .where(
          and(
            filter.taskId === undefined ? undefined : eq(executions.taskId, filter.taskId),
            filter.status === undefined ? undefined : eq(executions.status, filter.status),
          ),
        )
        .orderBy(desc(executions.id))
        .limit(filter.limit)
        .all()
        .map(toExecution),
    );
  }

  close(): Promise<void> {
    this.#sqlite.close();
    return Promise.resolve();
  }
}

type RunningRow = RetryColumns & {
  runId: number;
  executionId: number | null;
  attempt: number;
  interruptions: number;
  owner: string | null;
  ownerHost: string | null;
  ownerPid: number | null;
  leaseExpiresAt: number | null;
};

interface ReadyRow {
  runId: number;
  paused: number;
  taskId: number;
  attempt: number;
  interruptions: number;
  reason: RunReason;
  eventName: string | null;
  eventPayload: string | null;
  dueAt: number;
  name: string;
  handler: string;
  argsJson: string;
  timeoutMs: number | null;
  maxRetries: number | null;
  retryDelayMs: number | null;
  retryBackoff: 'fixed' | 'exponential' | null;
  retryMaxDelayMs: number | null;
}

/** A task whose triggers are all one-time and spent, with no run left, has done its work. */
function removeIfSpent(tx: Tx, taskId: number): void {
  tx.run(sql`
    DELETE FROM tasks WHERE id = ${taskId}
      AND EXISTS (SELECT 1 FROM triggers WHERE task_id = ${taskId})
      AND NOT EXISTS (SELECT 1 FROM triggers WHERE task_id = ${taskId}
                      AND (kind <> 'once' OR next_fire_at IS NOT NULL))
      AND NOT EXISTS (SELECT 1 FROM runs WHERE task_id = ${taskId})`);
}

function insertTrigger(tx: Tx, taskId: number, state: TriggerState): void {
  const { spec } = state;
  tx.insert(triggers)
    .values({
      taskId,
      kind: spec.kind,
      intervalMs: spec.kind === 'interval' ? spec.interval : null,
      cron: spec.kind === 'cron' ? spec.cron : null,
      timezone: spec.kind === 'cron' ? spec.timezone : null,
      jitterMs: spec.kind === 'interval' || spec.kind === 'cron' ? spec.jitter : 0,
      misfire: spec.kind === 'interval' || spec.kind === 'cron' ? spec.misfire : null,
      maxCatchUp: spec.kind === 'interval' || spec.kind === 'cron' ? spec.maxCatchUp : null,
      eventName: spec.kind === 'event' ? spec.event : null,
      delayMs: spec.kind === 'once' ? spec.delay : null,
      at: spec.kind === 'once' ? spec.at : null,
      anchorAt: state.anchorAt,
      nextSlotAt: state.nextSlotAt,
      nextFireAt: state.nextFireAt,
    })
    .run();
}

/** On a keyed update, triggers that are unchanged keep their schedule and counters. */
function syncTriggers(tx: Tx, taskId: number, wanted: TriggerState[]): void {
  const existing = tx.select().from(triggers).where(eq(triggers.taskId, taskId)).orderBy(asc(triggers.id)).all();
  const unmatched = [...existing];
  for (const state of wanted) {
    const key = specKey(state.spec);
    const i = unmatched.findIndex((row) => specKey(specOf(row)) === key);
    if (i >= 0) unmatched.splice(i, 1);
    else insertTrigger(tx, taskId, state);
  }
  for (const row of unmatched) tx.delete(triggers).where(eq(triggers.id, row.id)).run();
}

function readTask(db: SqliteDb | Tx, id: number): Task | undefined {
  const row = db.select().from(tasks).where(eq(tasks.id, id)).get();
  if (!row) return undefined;
  return toTask(row, db.select().from(triggers).where(eq(triggers.taskId, id)).orderBy(asc(triggers.id)).all());
}
