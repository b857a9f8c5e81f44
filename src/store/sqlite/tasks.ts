import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { taskLimiter } from '../../flow.js';
import type { NewTaskWithSchedule, Task } from '../../task.js';
import type { TriggerState } from '../../triggers/schedule.js';
import {
  newTriggerRow,
  taskDefinition,
  toTask,
  triggerInsertValues,
  triggerState,
  type FailedAttempt,
  type TaskRow,
  type TriggerRow,
} from '../rows.js';
import type { SqliteDb } from './open.js';
import { executions, runs, spentKeys, tasks, triggers } from './schema.js';
import type { FireEventParams, RedriveFailedParams, RedriveParams, RedriveResult } from '../params.js';
import type { Statements } from './statements.js';
import { matchTriggers } from '../keyed-update.js';

// Tasks, their triggers and what makes their runs, on SQLite: each function runs
// inside the transaction that SqliteStore opened for it.

export function readTask(db: SqliteDb, id: number): Task | undefined {
  const row = db.select().from(tasks).where(eq(tasks.id, id)).get();
  if (!row) return undefined;
  return toTask(row, db.select().from(triggers).where(eq(triggers.taskId, id)).orderBy(asc(triggers.id)).all());
}

export function addTask(
  db: SqliteDb,
  q: Statements,
  task: NewTaskWithSchedule,
  now: number,
): { task: Task; created: boolean } {
  const definition = taskDefinition(task, now);
  const existing = task.key === null ? undefined : q.taskIdByKey.get(task.key);
  if (existing !== undefined) {
    db.update(tasks).set(definition).where(eq(tasks.id, existing)).run();
    db.update(runs).set({ priority: task.priority }).where(eq(runs.taskId, existing)).run();
    if (task.rateLimit === null) db.run(sql`DELETE FROM rate_starts WHERE limiter = ${taskLimiter(existing)}`);
    syncTriggers(db, q, existing, task.triggers, task.priority, now);
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
      row.conditions,
      row.conditionLost,
      row.groups,
      row.rateMax,
      row.ratePerMs,
      row.paused ? 1 : 0,
      now,
      now,
    ).lastInsertRowid,
  );
  // Built from what was written rather than read back: a bulk load stays one insert per row.
  const triggerRows = task.triggers.map((state) => insertTrigger(q, row.id, state, task.priority, now));
  return { task: toTask(row, triggerRows), created: true };
}

/** Adds a keyed task unless its key is taken (the task is returned as it is) or spent (null). */
export function addTaskOnce(
  db: SqliteDb,
  q: Statements,
  task: NewTaskWithSchedule & { key: string },
  now: number,
): { task: Task | null; created: boolean } {
  const existing = q.taskIdByKey.get(task.key);
  if (existing !== undefined) return { task: readTask(db, existing)!, created: false };
  if (db.select().from(spentKeys).where(eq(spentKeys.key, task.key)).get()) return { task: null, created: false };
  return addTask(db, q, task, now);
}

/** A one-time trigger already due becomes a run at once, rather than at the next wake. */
function insertTrigger(q: Statements, taskId: number, state: TriggerState, priority: number, now: number): TriggerRow {
  const { row, firesAt } = newTriggerRow(taskId, state, now);
  row.id = Number(q.insertTrigger.run(...triggerInsertValues(row)).lastInsertRowid);
  if (firesAt !== null) q.insertRun.run(taskId, row.id, 'once', null, null, priority, firesAt, now);
  return row;
}

/** On a keyed update, triggers that are unchanged keep their schedule and counters. */
function syncTriggers(
  db: SqliteDb,
  q: Statements,
  taskId: number,
  wanted: TriggerState[],
  priority: number,
  now: number,
): void {
  const existing = db.select().from(triggers).where(eq(triggers.taskId, taskId)).orderBy(asc(triggers.id)).all();
  const { added, removed } = matchTriggers(existing, wanted);
  for (const state of added) insertTrigger(q, taskId, state, priority, now);
  if (removed.length > 0) db.delete(triggers).where(inArray(triggers.id, removed)).run();
}

export function listTasks(db: SqliteDb, { limit, afterId }: { limit: number; afterId: number }): Task[] {
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
}

export function removeTask(db: SqliteDb, id: number, now: number): boolean {
  db.update(executions)
    .set({
      status: 'cancelled',
      endedAt: now,
      durationMs: sql`${now} - ${executions.startedAt}`,
      error: 'task removed',
      final: true,
    })
    .where(
      and(
        eq(executions.status, 'running'),
        sql`${executions.id} IN (SELECT execution_id FROM runs WHERE task_id = ${id} AND state = 'running')`,
      ),
    )
    .run();
  db.run(sql`DELETE FROM rate_starts WHERE limiter = ${taskLimiter(id)}`);
  return db.delete(tasks).where(eq(tasks.id, id)).run().changes > 0;
}

export function setPaused(db: SqliteDb, id: number, paused: boolean, now: number): boolean {
  return db.update(tasks).set({ paused, updatedAt: now }).where(eq(tasks.id, id)).run().changes > 0;
}

export function enqueueRun(db: SqliteDb, taskId: number, now: number): number | null {
  const task = db.select({ priority: tasks.priority }).from(tasks).where(eq(tasks.id, taskId)).get();
  if (!task) return null;
  const [run] = db
    .insert(runs)
    .values({ taskId, reason: 'manual', state: 'waiting', priority: task.priority, dueAt: now, createdAt: now })
    .returning({ id: runs.id })
    .all();
  return run!.id;
}

function redriveOne(db: SqliteDb, attempt: FailedAttempt, now: number): number {
  const [run] = db.all<{ id: number }>(sql`
    INSERT INTO runs (task_id, trigger_id, reason, event_name, event_payload, state, priority, due_at, created_at)
    VALUES (${attempt.taskId}, NULL, ${attempt.reason}, ${attempt.eventName}, ${attempt.eventPayload}, 'waiting',
            ${attempt.priority}, ${now}, ${now})
    RETURNING id`);
  db.run(sql`UPDATE executions SET redriven_run_id = ${run!.id} WHERE id = ${attempt.id}`);
  return run!.id;
}

const FAILED_ATTEMPT = sql`
  SELECT e.id, e.task_id AS taskId, e.reason, e.event_name AS eventName, e.event_payload AS eventPayload, t.priority
  FROM executions e JOIN tasks t ON t.id = e.task_id`;

export function redrive(db: SqliteDb, { executionId, now }: RedriveParams): RedriveResult {
  const execution = db.get<{ status: string; taskId: number }>(
    sql`SELECT status, task_id AS taskId FROM executions WHERE id = ${executionId}`,
  );
  if (execution === undefined) return { refused: 'not-found' };
  if (execution.status !== 'failed') return { refused: 'not-failed', status: execution.status };
  const attempt = db.get<FailedAttempt>(sql`${FAILED_ATTEMPT} WHERE e.id = ${executionId}`);
  if (attempt === undefined) return { refused: 'task-gone', taskId: execution.taskId };
  return { runId: redriveOne(db, attempt, now) };
}

export function redriveFailed(db: SqliteDb, { taskId, since, limit, now }: RedriveFailedParams): number {
  const attempts = db.all<FailedAttempt>(sql`
    ${FAILED_ATTEMPT}
    WHERE e.status = 'failed' AND e.final = 1 AND e.redriven_run_id IS NULL AND e.started_at >= ${since}
      AND (${taskId} IS NULL OR e.task_id = ${taskId})
    ORDER BY e.id LIMIT ${limit}`);
  for (const attempt of attempts) redriveOne(db, attempt, now);
  return attempts.length;
}

/** How many expired event keys a keyed firing deletes: the table stays as small as the window's traffic. */
const EXPIRED_KEYS_PER_FIRE = 100;

export function fireEvent(db: SqliteDb, { name, payloadJson, key, keyWindowMs, now }: FireEventParams): number[] {
  if (key !== null) {
    db.run(sql`
      DELETE FROM event_keys WHERE rowid IN
        (SELECT rowid FROM event_keys WHERE fired_at <= ${now - keyWindowMs} LIMIT ${EXPIRED_KEYS_PER_FIRE})`);
    // The first firing of a key wins its window; a repeat neither fires nor extends it.
    const fresh = db.all(sql`
      INSERT INTO event_keys (event_name, key, fired_at) VALUES (${name}, ${key}, ${now})
      ON CONFLICT (event_name, key) DO UPDATE SET fired_at = excluded.fired_at
        WHERE event_keys.fired_at <= ${now - keyWindowMs}
      RETURNING 1`);
    if (fresh.length === 0) return [];
  }
  // One run per listening task, even if it listens to the event twice: its first
  // trigger on the event decides.
  const first = sql`
    SELECT g.task_id, min(g.id) AS trigger_id FROM triggers g
    WHERE g.kind = 'event' AND g.event_name = ${name} GROUP BY g.task_id`;
  const inserted = db.all<{ id: number }>(sql`
    INSERT INTO runs (task_id, trigger_id, reason, event_name, event_payload, state, priority, due_at, created_at)
    SELECT f.task_id, f.trigger_id, 'event', ${name}, ${payloadJson}, 'waiting', t.priority, ${now}, ${now}
    FROM (${first}) f JOIN triggers g ON g.id = f.trigger_id JOIN tasks t ON t.id = f.task_id
    WHERE g.delay_ms IS NULL
    ORDER BY f.task_id
    RETURNING id`);
  // Debounced: the firing joins the run its trigger has waiting (due anew, with this
  // payload), or makes one due after the debounce.
  const debounced = db.all<{ taskId: number; triggerId: number; debounce: number; priority: number }>(sql`
    SELECT f.task_id AS taskId, f.trigger_id AS triggerId, g.delay_ms AS debounce, t.priority
    FROM (${first}) f JOIN triggers g ON g.id = f.trigger_id JOIN tasks t ON t.id = f.task_id
    WHERE g.delay_ms IS NOT NULL`);
  for (const { taskId, triggerId, debounce, priority } of debounced) {
    const joined = db.all<{ id: number }>(sql`
      UPDATE runs SET due_at = ${now + debounce}, event_payload = ${payloadJson}
      WHERE trigger_id = ${triggerId} AND reason <> 'once' AND state = 'waiting' RETURNING id`);
    const made =
      joined.length > 0
        ? joined
        : db.all<{ id: number }>(sql`
            INSERT INTO runs (task_id, trigger_id, reason, event_name, event_payload, state, priority, due_at, created_at)
            VALUES (${taskId}, ${triggerId}, 'event', ${name}, ${payloadJson}, 'waiting', ${priority}, ${now + debounce}, ${now})
            RETURNING id`);
    inserted.push(...made);
  }
  db.update(triggers)
    .set({ fireCount: sql`${triggers.fireCount} + 1`, lastFiredAt: now })
    .where(and(eq(triggers.kind, 'event'), eq(triggers.eventName, name)))
    .run();
  return inserted.map((row) => row.id).sort((a, b) => a - b);
}

export function rebaseAfterClockJump(
  tx: SqliteDb,
  now: number,
  jumpMs: number,
  replan: (state: TriggerState) => TriggerState | null,
): number {
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
  const sooner = (column: typeof runs.dueAt | typeof triggers.nextFireAt) => sql`max(${now}, ${column} - ${jumpMs})`;
  changed += tx
    .update(triggers)
    .set({ nextSlotAt: sooner(triggers.nextFireAt), nextFireAt: sooner(triggers.nextFireAt) })
    .where(and(eq(triggers.kind, 'once'), sql`${triggers.delayMs} IS NOT NULL`, sql`${triggers.nextFireAt} > ${now}`))
    .run().changes;
  changed += tx
    .update(runs)
    .set({ dueAt: sooner(runs.dueAt) })
    .where(and(sql`${runs.state} = 'waiting'`, sql`${runs.dueAt} > ${now}`))
    .run().changes;
  return changed;
}
