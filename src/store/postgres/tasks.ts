import { taskLimiter } from '../../flow.js';
import type { PoolClient } from 'pg';
import type { NewTaskWithSchedule, Task } from '../../task.js';
import type { TriggerState } from '../../triggers/schedule.js';
import { newTriggerRow, taskDefinition, toTask, triggerInsertValues, type TaskRow, type TriggerRow } from '../rows.js';
import { query, type Queryable } from './connection.js';
import { RETRY_COLUMNS, TRIGGER_COLUMNS } from '../columns.js';
import { matchTriggers } from '../keyed-update.js';

// Adding, updating and reading tasks with their triggers.

const TASK_COLUMNS = `t.id, t.key, t.name, t.handler, t.module, t.memory_limit_mb AS "memoryLimitMb", t.description,
  t.args, t.priority, t.timeout_ms AS "timeoutMs", ${RETRY_COLUMNS}, t.conditions, t.condition_lost AS "conditionLost",
  t.groups, t.rate_max AS "rateMax", t.rate_per_ms AS "ratePerMs", t.paused, t.created_at AS "createdAt",
  t.updated_at AS "updatedAt"`;

export async function addTask(
  client: PoolClient,
  task: NewTaskWithSchedule,
  now: number,
): Promise<{ task: Task; created: boolean }> {
  const definition = taskDefinition(task, now);
  const columns = [
    definition.name,
    definition.handler,
    definition.module,
    definition.memoryLimitMb,
    definition.description,
    definition.args,
    definition.priority,
    definition.timeoutMs,
    definition.maxRetries,
    definition.retryDelayMs,
    definition.retryBackoff,
    definition.retryMaxDelayMs,
    definition.conditions,
    definition.conditionLost,
    definition.groups,
    definition.rateMax,
    definition.ratePerMs,
    now,
  ];
  // Nodes declaring the same keyed task at start-up: the first inserts it, the
  // others wait on the key and update it in place (xmax = 0 marks a new row).
  let id: number | undefined;
  if (task.key !== null) {
    const [upserted] = await query<{ id: number; created: boolean }>(
      client,
      `INSERT INTO background_tasks.tasks (name, handler, module, memory_limit_mb, description, args, priority,
         timeout_ms, max_retries, retry_delay_ms, retry_backoff, retry_max_delay_ms, conditions, condition_lost,
         groups, rate_max, rate_per_ms, updated_at, key, paused, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $18)
       ON CONFLICT (key) DO UPDATE SET name = excluded.name, handler = excluded.handler, module = excluded.module,
         memory_limit_mb = excluded.memory_limit_mb, description = excluded.description, args = excluded.args,
         priority = excluded.priority, timeout_ms = excluded.timeout_ms, max_retries = excluded.max_retries,
         retry_delay_ms = excluded.retry_delay_ms, retry_backoff = excluded.retry_backoff,
         retry_max_delay_ms = excluded.retry_max_delay_ms, conditions = excluded.conditions,
         condition_lost = excluded.condition_lost, groups = excluded.groups, rate_max = excluded.rate_max,
         rate_per_ms = excluded.rate_per_ms, updated_at = excluded.updated_at
       RETURNING id, xmax = 0 AS created`,
      [...columns, task.key, task.paused],
    );
    id = upserted!.id;
    if (!upserted!.created) {
      await query(client, 'UPDATE background_tasks.runs SET priority = $1 WHERE task_id = $2', [task.priority, id]);
      if (task.rateLimit === null) {
        await query(client, 'DELETE FROM background_tasks.rate_starts WHERE limiter = $1', [taskLimiter(id)]);
      }
      await syncTriggers(client, id, task.triggers, task.priority, now);
      return { task: (await readTask(client, id))!, created: false };
    }
  } else {
    const [inserted] = await query<{ id: number }>(
      client,
      `INSERT INTO background_tasks.tasks (name, handler, module, memory_limit_mb, description, args, priority,
         timeout_ms, max_retries, retry_delay_ms, retry_backoff, retry_max_delay_ms, conditions, condition_lost,
         groups, rate_max, rate_per_ms, updated_at, paused, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $18) RETURNING id`,
      [...columns, task.paused],
      'bt_insert_task',
    );
    id = inserted!.id;
  }
  const row: TaskRow = { ...definition, id, key: task.key, paused: task.paused, createdAt: now };
  const triggerRows: TriggerRow[] = [];
  for (const state of task.triggers) triggerRows.push(await insertTrigger(client, id, state, task.priority, now));
  return { task: toTask(row, triggerRows), created: true };
}

/** A one-time trigger already due becomes a run at once, rather than at the next wake. */
async function insertTrigger(
  client: PoolClient,
  taskId: number,
  state: TriggerState,
  priority: number,
  now: number,
): Promise<TriggerRow> {
  const { row, firesAt } = newTriggerRow(taskId, state, now);
  // The trigger and (when due) its run in one statement: one round trip per task.
  const [inserted] = await query<{ id: number }>(
    client,
    `WITH g AS (
       INSERT INTO background_tasks.triggers (task_id, kind, interval_ms, cron, timezone, jitter_ms, misfire,
         max_catch_up, event_name, delay_ms, at, anchor_at, next_slot_at, next_fire_at, last_fired_at, fire_count)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id
     ), r AS (
       INSERT INTO background_tasks.runs (task_id, trigger_id, slot_at, reason, state, priority, due_at, created_at)
       SELECT $1, g.id, $17::bigint, 'once', 'waiting', $18, $17::bigint, $19 FROM g WHERE $17::bigint IS NOT NULL
     )
     SELECT id FROM g`,
    [...triggerInsertValues(row), firesAt, priority, now],
    'bt_insert_trigger',
  );
  row.id = inserted!.id;
  return row;
}

/** On a keyed update, triggers that are unchanged keep their schedule and counters. */
async function syncTriggers(
  client: PoolClient,
  taskId: number,
  wanted: TriggerState[],
  priority: number,
  now: number,
): Promise<void> {
  const existing = await query<TriggerRow>(
    client,
    `SELECT ${TRIGGER_COLUMNS} FROM background_tasks.triggers g WHERE g.task_id = $1 ORDER BY g.id FOR UPDATE`,
    [taskId],
  );
  const { added, removed } = matchTriggers(existing, wanted);
  for (const state of added) await insertTrigger(client, taskId, state, priority, now);
  if (removed.length > 0) {
    await query(client, 'DELETE FROM background_tasks.triggers WHERE id = ANY($1::bigint[])', [removed]);
  }
}

/**
 * Adds a keyed task unless its key is taken (the task is returned as it is) or spent
 * (null). The key is locked first, so nodes declaring it together add it once.
 */
export async function addTaskOnce(
  client: PoolClient,
  task: NewTaskWithSchedule & { key: string },
  now: number,
): Promise<{ task: Task | null; created: boolean }> {
  await query(client, 'SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [task.key]);
  const [existing] = await query<{ id: number }>(client, 'SELECT id FROM background_tasks.tasks WHERE key = $1', [
    task.key,
  ]);
  if (existing) return { task: (await readTask(client, Number(existing.id)))!, created: false };
  const spent = await query(client, 'SELECT 1 FROM background_tasks.spent_keys WHERE key = $1', [task.key]);
  if (spent.length > 0) return { task: null, created: false };
  return addTask(client, task, now);
}

export async function readTask(client: Queryable, id: number): Promise<Task | undefined> {
  const [row] = await query<TaskRow>(client, `SELECT ${TASK_COLUMNS} FROM background_tasks.tasks t WHERE t.id = $1`, [
    id,
  ]);
  if (!row) return undefined;
  const triggerRows = await query<TriggerRow>(
    client,
    `SELECT ${TRIGGER_COLUMNS} FROM background_tasks.triggers g WHERE g.task_id = $1 ORDER BY g.id`,
    [id],
  );
  return toTask(row, triggerRows);
}

export async function listTasks(client: Queryable, limit: number, afterId: number): Promise<Task[]> {
  const rows = await query<TaskRow>(
    client,
    `SELECT ${TASK_COLUMNS} FROM background_tasks.tasks t WHERE t.id > $1 ORDER BY t.id LIMIT $2`,
    [afterId, limit],
  );
  if (rows.length === 0) return [];
  const triggerRows = await query<TriggerRow>(
    client,
    `SELECT ${TRIGGER_COLUMNS} FROM background_tasks.triggers g WHERE g.task_id = ANY($1::bigint[]) ORDER BY g.id`,
    [rows.map((row) => row.id)],
  );
  return rows.map((row) =>
    toTask(
      row,
      triggerRows.filter((t) => t.taskId === row.id),
    ),
  );
}
