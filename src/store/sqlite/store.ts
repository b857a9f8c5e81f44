import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { DatabaseError, toDatabaseError } from '../../errors.js';
import type { Execution, ExecutionFilter, ExecutionStatus } from '../../execution.js';
import type { NewTaskWithSchedule, Task } from '../../task.js';
import type { TriggerState } from '../../triggers/schedule.js';
import type {
  CompleteRunParams,
  CycleParams,
  CycleResult,
  DatabaseInfo,
  FireResult,
  Owner,
  RunInfo,
  SchedulerInfo,
  RunningRun,
  Store,
  TaskCounts,
} from '../store.js';
import { openSqlite, type OpenOptions, type SqliteDb } from './open.js';
import {
  newTriggerRow,
  specKey,
  specOf,
  taskDefinition,
  toExecution,
  toRunningRun,
  toTask,
  triggerInsertValues,
  triggerState,
  type TaskRow,
  type TriggerRow,
} from '../rows.js';
import { executions, runs, schedulers, tasks, triggers } from './schema.js';
import { claim, complete, fireDue, nextWake } from './cycle.js';
import { prepareStatements, type Statements } from './statements.js';

/** Tries of a write transaction that finds the database locked beyond the busy timeout. */
const BUSY_ATTEMPTS = 3;
const BUSY_BACKOFF_MS = 100;
/**
 * How often to ask SQLite whether another process committed (a new task, an
 * event, a run queued by the CLI). A real timer, not the injected clock: it only
 * decides when to look, never what is due.
 */
const WATCH_OTHERS_MS = 1_000;

function isLocked(error: unknown): boolean {
  return error instanceof DatabaseError && error.code === 'DATABASE_LOCKED';
}

/**
 * The store on one SQLite file. better-sqlite3 is synchronous: each method runs
 * one transaction to its end before it returns, and the loop's whole wake
 * (recording finished runs, firing due triggers, claiming) is one transaction,
 * so that full durability costs one disk sync per wake, not one per run.
 */
export class SqliteStore implements Store {
  readonly #sqlite: Database.Database;
  readonly #db: SqliteDb;
  readonly #q: Statements;
  readonly #immediate: (fn: () => unknown) => unknown;

  readonly #file: { path: string; ino: number } | null;
  #dataVersion: number;

  constructor(filename: string, options: OpenOptions = {}) {
    const { sqlite, db } = openSqlite(filename, options);
    this.#file = sqlite.memory ? null : { path: filename, ino: statSync(filename).ino };
    this.#dataVersion = sqlite.pragma('data_version', { simple: true }) as number;
    this.#sqlite = sqlite;
    this.#db = db;
    this.#q = prepareStatements(sqlite);
    const transaction = sqlite.transaction((fn: () => unknown) => fn());
    this.#immediate = (fn) => transaction.immediate(fn);
  }

  /**
   * Runs `fn` in a write transaction taken at BEGIN (BEGIN IMMEDIATE), so readers
   * never have to upgrade their lock. SQLite's busy timeout waits for another
   * process's lock; if that runs out, the transaction is retried a few times
   * before the caller gets DATABASE_LOCKED. Drizzle queries on `db` inside `fn`
   * run on the same connection, inside the transaction.
   */
  async #write<T>(fn: (db: SqliteDb) => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.#immediate(() => fn(this.#db)) as T;
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

  addTasks(batch: NewTaskWithSchedule[], now: number): Promise<{ task: Task; created: boolean }[]> {
    return this.#write((db) => batch.map((task) => this.#addTask(db, task, now)));
  }

  #addTask(db: SqliteDb, task: NewTaskWithSchedule, now: number): { task: Task; created: boolean } {
    const q = this.#q;
    const definition = taskDefinition(task, now);
    const existing = task.key === null ? undefined : q.taskIdByKey.get(task.key);
    if (existing !== undefined) {
      db.update(tasks).set(definition).where(eq(tasks.id, existing)).run();
      db.update(runs).set({ priority: task.priority }).where(eq(runs.taskId, existing)).run();
      this.#syncTriggers(db, existing, task.triggers, task.priority, now);
      return { task: readTask(db, existing)!, created: false };
    }
    const row: TaskRow = { ...definition, id: 0, key: task.key, paused: task.paused, createdAt: now };
    row.id = Number(
      q.insertTask.run(
        row.key,
        row.name,
        row.handler,
        row.module,
        row.memoryLimitMb,
        row.description,
        row.args,
        row.priority,
        row.timeoutMs,
        row.maxRetries,
        row.retryDelayMs,
        row.retryBackoff,
        row.retryMaxDelayMs,
        row.paused ? 1 : 0,
        now,
        now,
      ).lastInsertRowid,
    );
    // Built from what was written rather than read back: a bulk load stays one insert per row.
    const triggerRows = task.triggers.map((state) => this.#insertTrigger(row.id, state, task.priority, now));
    return { task: toTask(row, triggerRows), created: true };
  }

  /** A one-time trigger already due becomes a run at once, rather than at the next wake. */
  #insertTrigger(taskId: number, state: TriggerState, priority: number, now: number): TriggerRow {
    const { row, firesAt } = newTriggerRow(taskId, state, now);
    row.id = Number(this.#q.insertTrigger.run(...triggerInsertValues(row)).lastInsertRowid);
    if (firesAt !== null) this.#q.insertRun.run(taskId, row.id, 'once', null, null, priority, firesAt, now);
    return row;
  }

  /** On a keyed update, triggers that are unchanged keep their schedule and counters. */
  #syncTriggers(db: SqliteDb, taskId: number, wanted: TriggerState[], priority: number, now: number): void {
    const existing = db.select().from(triggers).where(eq(triggers.taskId, taskId)).orderBy(asc(triggers.id)).all();
    const unmatched = [...existing];
    for (const state of wanted) {
      const key = specKey(state.spec);
      const i = unmatched.findIndex((row) => specKey(specOf(row)) === key);
      if (i >= 0) unmatched.splice(i, 1);
      else this.#insertTrigger(taskId, state, priority, now);
    }
    for (const row of unmatched) db.delete(triggers).where(eq(triggers.id, row.id)).run();
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
    return this.#write((db) => {
      db.update(executions)
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
      return db.delete(tasks).where(eq(tasks.id, id)).run().changes > 0;
    });
  }

  setPaused(id: number, paused: boolean, now: number): Promise<boolean> {
    return this.#write(
      (db) => db.update(tasks).set({ paused, updatedAt: now }).where(eq(tasks.id, id)).run().changes > 0,
    );
  }

  enqueueRun(taskId: number, now: number): Promise<boolean> {
    return this.#write((db) => {
      const task = db.select({ priority: tasks.priority }).from(tasks).where(eq(tasks.id, taskId)).get();
      if (!task) return false;
      db.insert(runs)
        .values({ taskId, reason: 'manual', state: 'waiting', priority: task.priority, dueAt: now, createdAt: now })
        .run();
      return true;
    });
  }

  fireEvent(name: string, payloadJson: string | null, now: number): Promise<number> {
    return this.#write((db) => {
      // One run per listening task, even if it listens to the event twice.
      const inserted = db.run(sql`
        INSERT INTO runs (task_id, trigger_id, reason, event_name, event_payload, state, priority, due_at, created_at)
        SELECT g.task_id, min(g.id), 'event', ${name}, ${payloadJson}, 'waiting', t.priority, ${now}, ${now}
        FROM triggers g JOIN tasks t ON t.id = g.task_id
        WHERE g.kind = 'event' AND g.event_name = ${name}
        GROUP BY g.task_id ORDER BY g.task_id`);
      db.update(triggers)
        .set({ fireCount: sql`${triggers.fireCount} + 1`, lastFiredAt: now })
        .where(and(eq(triggers.kind, 'event'), eq(triggers.eventName, name)))
        .run();
      return inserted.changes;
    });
  }

  cycle(params: CycleParams): Promise<CycleResult> {
    const { now, completions } = params;
    const q = this.#q;
    const wanted = params.claim;
    // Even with no handler registered: module tasks need none.
    const wantClaims = wanted !== null && wanted.limit > 0;
    const work =
      completions.length > 0 ||
      q.anyTriggerDue.get(now) !== undefined ||
      (wantClaims && q.anyRunReady.get(now) !== undefined);
    const empty: FireResult = { runs: 0, broken: [] };
    if (!work) return this.#read(() => ({ completed: [], fired: empty, claims: [], nextWakeAt: nextWake(q, now) }));
    return this.#write(() => {
      const completed = completions.map((completion) => complete(q, completion));
      const fired = fireDue(q, now, params.plan, params.triggerLimit);
      const claims = wanted !== null && wantClaims ? claim(q, { ...wanted, now }) : [];
      return { completed, fired, claims, nextWakeAt: nextWake(q, now) };
    });
  }

  completeRun(params: CompleteRunParams): Promise<boolean> {
    return this.#write(() => complete(this.#q, params));
  }

  runningRuns(): Promise<RunningRun[]> {
    return this.#read(() => this.#q.runningRuns.all().map(toRunningRun));
  }

  renewLeases(ownerId: string, until: number): Promise<number[]> {
    return this.#write((tx) =>
      tx
        .update(runs)
        .set({ leaseExpiresAt: until })
        .where(and(sql`${runs.state} = 'running'`, eq(runs.owner, ownerId)))
        .returning({ id: runs.id })
        .all()
        .map((row) => row.id),
    );
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
        .where(and(sql`${runs.state} = 'waiting'`, sql`${runs.dueAt} > ${now}`))
        .run().changes;
      return changed;
    });
  }

  latestRecordedTime(): Promise<number | null> {
    return this.#read(() => {
      const row = this.#q.latestRecorded.get()!;
      const times = [row.execution, row.run, row.task].filter((t): t is number => t !== null);
      return times.length === 0 ? null : Math.max(...times);
    });
  }

  unservedHandlers(now: number, handlers: string[]): Promise<string[]> {
    return this.#read((db) =>
      db
        .all<{ handler: string }>(
          sql`
          SELECT DISTINCT t.handler FROM runs r JOIN tasks t ON t.id = r.task_id
          WHERE r.state = 'waiting' AND r.due_at <= ${now}
            AND t.module IS NULL
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
            filter.beforeId === undefined ? undefined : sql`${executions.id} < ${filter.beforeId}`,
            filter.since === undefined ? undefined : sql`${executions.startedAt} >= ${filter.since}`,
          ),
        )
        .orderBy(desc(executions.id))
        .limit(filter.limit)
        .all()
        .map(toExecution),
    );
  }

  async pruneExecutions({
    endedBefore,
    keepLast,
    limit,
  }: {
    endedBefore: number | null;
    keepLast: number | null;
    limit: number;
  }): Promise<number> {
    const q = this.#q;
    // Found by reads (a reader never blocks the writer), deleted by id in one short transaction.
    const ids = new Set<number>(endedBefore === null ? [] : q.endedBefore.all(endedBefore, limit));
    if (keepLast !== null && ids.size < limit) {
      for (const id of q.beyondKeepLast.all(keepLast, limit - ids.size)) ids.add(id);
    }
    if (ids.size === 0) return 0;
    return this.#write(() => {
      let deleted = 0;
      for (const id of ids) deleted += q.deleteExecution.run(id).changes;
      return deleted;
    });
  }

  compact(): Promise<void> {
    return this.#read(() => {
      this.#sqlite.pragma('incremental_vacuum');
      this.#sqlite.pragma('wal_checkpoint(TRUNCATE)');
    });
  }

  saveScheduler(owner: Owner, handlers: string[], now: number): Promise<void> {
    const row = { id: owner.id, host: owner.host, pid: owner.pid, handlers: JSON.stringify(handlers), lastSeenAt: now };
    return this.#write((db) => {
      db.insert(schedulers)
        .values({ ...row, startedAt: now })
        .onConflictDoUpdate({ target: schedulers.id, set: { handlers: row.handlers, lastSeenAt: now } })
        .run();
    });
  }

  removeScheduler(ownerId: string, staleBefore: number): Promise<void> {
    return this.#write((db) => {
      db.delete(schedulers)
        .where(sql`${schedulers.id} = ${ownerId} OR ${schedulers.lastSeenAt} < ${staleBefore}`)
        .run();
    });
  }

  schedulers(): Promise<SchedulerInfo[]> {
    return this.#read((db) =>
      db
        .select()
        .from(schedulers)
        .orderBy(desc(schedulers.lastSeenAt))
        .all()
        .map((row) => ({ ...row, handlers: JSON.parse(row.handlers) as string[] })),
    );
  }

  runs({ taskId, readyAt, limit }: { taskId?: number; readyAt?: number; limit: number }): Promise<RunInfo[]> {
    return this.#read((db) =>
      db
        .select({
          id: runs.id,
          taskId: runs.taskId,
          reason: runs.reason,
          state: runs.state,
          dueAt: runs.dueAt,
          attempt: runs.attempt,
          interruptions: runs.interruptions,
          owner: runs.owner,
        })
        .from(runs)
        .where(
          and(
            taskId === undefined ? undefined : eq(runs.taskId, taskId),
            readyAt === undefined ? undefined : and(sql`${runs.state} = 'waiting'`, sql`${runs.dueAt} <= ${readyAt}`),
          ),
        )
        .orderBy(asc(runs.dueAt), asc(runs.id))
        .limit(limit)
        .all(),
    );
  }

  countReady(now: number, limit: number): Promise<number> {
    return this.#read(() => this.#q.countReady.get(now, limit) ?? 0);
  }

  taskIdByKey(key: string): Promise<number | undefined> {
    return this.#read(() => this.#q.taskIdByKey.get(key));
  }

  taskCounts(taskIds: number[]): Promise<Map<number, TaskCounts>> {
    return this.#read((db) => {
      const rows = db.all<{
        taskId: number;
        total: number;
        succeeded: number;
        failed: number;
        lastStatus: ExecutionStatus;
      }>(sql`
        SELECT task_id AS taskId, count(*) AS total, sum(status = 'succeeded') AS succeeded,
               sum(status = 'failed') AS failed,
               (SELECT status FROM executions l WHERE l.task_id = e.task_id ORDER BY id DESC LIMIT 1) AS lastStatus
        FROM executions e WHERE task_id IN (SELECT value FROM json_each(${JSON.stringify(taskIds)}))
        GROUP BY task_id`);
      return new Map(rows.map((row) => [row.taskId, row]));
    });
  }

  inspect(): Promise<DatabaseInfo> {
    return this.#read(() => {
      const size = (path: string) => {
        try {
          return statSync(path).size;
        } catch {
          return 0;
        }
      };
      const path = this.#file?.path;
      const version = this.#sqlite
        .prepare('SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1')
        .get() as { hash: string; created_at: number } | undefined;
      return {
        integrity: this.#sqlite.pragma('integrity_check', { simple: true }) as string,
        schemaVersion: version
          ? `${new Date(Number(version.created_at)).toISOString()} (${version.hash.slice(0, 12)})`
          : 'none',
        fileBytes: path ? size(path) : 0,
        walBytes: path ? size(`${path}-wal`) : 0,
        freePages: this.#sqlite.pragma('freelist_count', { simple: true }) as number,
      };
    });
  }

  /** SQLite bumps data_version when another connection commits (its own commits do not count): polled every second. */
  watchOthers(onChange: () => void): () => void {
    const timer = setInterval(() => {
      try {
        const version = this.#sqlite.pragma('data_version', { simple: true }) as number;
        if (version === this.#dataVersion) return;
        this.#dataVersion = version;
        onChange();
      } catch {
        // The next wake meets the same problem and reports it.
      }
    }, WATCH_OTHERS_MS).unref();
    return () => clearInterval(timer);
  }

  opened(): Promise<void> {
    return Promise.resolve();
  }

  checkHealth(): Promise<void> {
    if (this.#file === null) return Promise.resolve();
    let ino: number | undefined;
    try {
      ino = statSync(this.#file.path).ino;
    } catch {
      ino = undefined;
    }
    if (ino === this.#file.ino) return Promise.resolve();
    // SQLite would go on writing into the unlinked file, and all of it would be lost at close.
    return Promise.reject(
      new DatabaseError('DATABASE_GONE', `the database file ${this.#file.path} was deleted or replaced while in use`),
    );
  }

  close(): Promise<void> {
    this.#sqlite.close();
    return Promise.resolve();
  }
}

function readTask(db: SqliteDb, id: number): Task | undefined {
  const row = db.select().from(tasks).where(eq(tasks.id, id)).get();
  if (!row) return undefined;
  return toTask(row, db.select().from(triggers).where(eq(triggers.taskId, id)).orderBy(asc(triggers.id)).all());
}
